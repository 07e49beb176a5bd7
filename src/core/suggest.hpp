// Learning mode: turning the requests a client made (and its rules would have denied)
// into the allow-list lines that would have let them through.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace egressd::core {

// Requests to one host and port, as recorded in learning mode. `host` is a normalised
// host (lower case, no trailing dot; IPv6 without brackets).
struct LearnedRequest {
  std::string host;
  std::uint16_t port = 0;
  bool is_connect = false;
  std::uint64_t count = 0;
};

// One suggested allow-list line and the learned requests it covers.
struct SuggestedRule {
  std::string rule;  // "domain:example.com", "host:a.b.c", "host:x.org:8443", "ip:10.1.2.3"
  std::vector<std::string> hosts;  // the learned hosts it covers, sorted, no duplicates
  std::uint64_t requests = 0;      // the sum of their counts (saturating)
  // Empty, or why the line alone does not allow every request it covers: an ip: line
  // cannot open a port, so an IP literal seen on a non-default port also needs that
  // port in http_ports / connect_ports.
  std::string note{};
};

// The registrable domain of a normalised host name ("www.bbc.co.uk" -> "bbc.co.uk"),
// or "" when it has none (a public suffix itself, an IP literal, a single label).
using RegistrableDomainFn = std::function<std::string(std::string_view host)>;

// Groups learned requests into allow-list lines.
//
// Requests are first split by port: requests on the default port (80 for plain HTTP,
// 443 for CONNECT) need a line without a port; every other port P needs lines naming P
// (host:H:P, domain:REG:P), since only those open a port. Within each port:
//  - IP-literal hosts give ip:ADDR (canonical text). ip: lines take no port, so one
//    ip:ADDR covers all ports of that address; other ports are named in `note`.
//  - names whose registrable domain REG is shared by at least `min_hosts_for_domain`
//    distinct hosts seen on that port give one domain:REG[:P] line;
//  - every other name gives host:H[:P]: also a name without a registrable domain (a
//    public suffix such as "co.uk", a single label), so no line ever opens a public
//    suffix.
// What `registrable` returns is checked: anything other than the host itself or a
// parent of it with at least two labels counts as "" (so, host:H).
// Entries with port 0 or a host that is neither an IP literal nor a valid host name
// are ignored: the proxy refuses such requests before any decision, so they are never
// learned. Duplicate entries are merged.
// Returns the lines sorted by `requests` descending, then by rule text; the result
// depends only on the multiset of entries, not on their order.
std::vector<SuggestedRule> suggest_rules(const std::vector<LearnedRequest>& learned,
                                         const RegistrableDomainFn& registrable,
                                         std::size_t min_hosts_for_domain = 2);

// The text `egressctl suggest` prints, ready to be appended to a rules file: for each
// rule, a comment line "# N requests: host1, host2, ..." (at most 5 hosts, then
// ", ... (+K more)"), a "# note: ..." line when the rule has a note, then the rule line.
// The rules format has only whole-line comments, hence the comment above the rule.
// "" for no rules.
std::string render_suggestions(const std::vector<SuggestedRule>& rules);

}  // namespace egressd::core
