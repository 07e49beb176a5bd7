// The bodies egressd answers with itself: block pages and error pages. Pure text rendering.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/ip_address.hpp"
#include "core/policy.hpp"

namespace egressd::core {

std::string html_escape(std::string_view text);

// What a denied client is told.
struct DenyInfo {
  std::string client_label;    // empty for an unknown client
  std::string client_address;  // canonical text
  std::string method;
  std::string host;  // normalised name
  std::uint16_t port = 0;
  std::string reason;       // reason_text() of the decision
  std::string decided_by;   // "file:line: pattern" of the deciding rule, or empty
  std::string rules_file;   // the client's rules file, or the one to create
  std::string rule_to_add;  // exact line that would allow the host, or empty when
                            // adding a line would not help (port, block-list)
};

// Fills DenyInfo for a denied decision. For an unknown client, rules_file is the file
// to create: "<rules_dir>/<label>.<address>" with the label "CLIENT".
DenyInfo make_deny_info(const PolicySnapshot& snapshot, const IpAddress& client,
                        const DecisionRequest& request, const Decision& decision);

// A complete, self-contained HTML page (no scripts, no external resources), every value
// HTML-escaped.
std::string render_deny_html(const DenyInfo& info);

// The same facts as plain text lines, for CONNECT refusals (browsers do not show them,
// curl and scripts do).
std::string render_deny_text(const DenyInfo& info);

// What a client that egressd is stopped for is told (egressctl stop).
struct StoppedInfo {
  std::string client_label;    // empty for a client without a rules file
  std::string client_address;  // canonical text
  std::string method;
  std::string host;  // normalised name
  std::uint16_t port = 0;

  // The command that resumes serving: "egressctl start LABEL" (the address when there
  // is no label).
  std::string resume_command() const;
};

// The 503 page for a stopped client: who, what was asked, and how to resume. Every value
// HTML-escaped; self-contained like the block page.
std::string render_stopped_html(const StoppedInfo& info);

// The same as plain text lines, for CONNECT.
std::string render_stopped_text(const StoppedInfo& info);

// A short HTML page for proxy errors (400, 502, 504...). `detail` is escaped.
std::string render_error_html(unsigned status, std::string_view reason_phrase,
                              std::string_view detail);

}  // namespace egressd::core
