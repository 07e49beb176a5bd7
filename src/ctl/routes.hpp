// The Qubes downstream interfaces of this machine, read from `ip -json route`: a qube
// that is running has a host route to its address via its vifN.M interface.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace egressd::ctl {

// Canonical address text (as egressd prints it) -> interface name, e.g.
// "10.137.0.12" -> "vif12.0".
using VifRoutes = std::map<std::string, std::string>;

// Parses the output of `ip -json route` (or `ip -6 -json route`) and keeps the host
// routes whose device starts with "vif": `dst` a single address, or a /32 or /128 prefix.
// Other routes (default, networks, other devices) are ignored. An address routed to two
// vif interfaces keeps the first. Error: the text is not the JSON array `ip` prints.
core::Result<VifRoutes> parse_vif_routes(std::string_view ip_json);

// Adds the routes of `more` that `routes` does not have yet.
void merge_vif_routes(VifRoutes& routes, const VifRoutes& more);

}  // namespace egressd::ctl
