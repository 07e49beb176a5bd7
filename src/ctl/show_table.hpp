// `egressctl show`: the daemon's client list merged with the local route table, as JSON
// for scripts and as a table for people.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/routes.hpp"

namespace egressd::ctl {

// Returns the daemon's `show` answer with, in every entry of "clients", "interface" (the
// vif device routed to its address, or null) and "connected" (whether such a route
// exists), plus "unlisted_vif_routes": [{"address", "interface"}] for vif routes of
// addresses egressd has no row for (running qubes without a rules file that have not used
// the proxy). With `routes` null (the route table could not be read) "interface" and
// "connected" are null and "unlisted_vif_routes" is empty.
// Entries that are not objects are left as they are.
nlohmann::json merge_show_with_routes(const nlohmann::json& show_answer, const VifRoutes* routes);

// One line of the table, every cell already text.
struct ShowRow {
  std::string label;        // "-" for an unknown client
  std::string address;
  std::string interface;    // "-" without a vif route
  std::string connected;    // "yes", "no", "?" when the route table was not readable
  std::string state;        // "serving", "stopped", "LEARNING"; "-" for an unlisted vif route
  std::string connections;  // counts; "-" for an unlisted vif route
  std::string allowed;
  std::string denied;
  std::string last_denied;  // "-" when none
};

// Rows of a merged answer (see merge_show_with_routes): the daemon's clients in its order,
// then the unlisted vif routes by address. Missing or mistyped fields show as "-".
// Control characters in strings are shown as '?', so that names cannot drive the terminal.
std::vector<ShowRow> show_rows(const nlohmann::json& merged);

// The table: a header line LABEL ADDRESS INTERFACE CONNECTED STATE CONNS ALLOWED DENIED
// LAST-DENIED, then one line per row; columns separated by two spaces, counts right-aligned,
// no trailing spaces. Ends with a newline.
std::string format_show_table(const std::vector<ShowRow>& rows);

// The lines under the table: for each client whose rules file has errors now, what is in
// force instead ("the rules loaded before" or "nothing is allowed") and each error as
// FILE:LINE: error: message. Empty when every file is fine.
std::string format_show_notes(const nlohmann::json& merged);

}  // namespace egressd::ctl
