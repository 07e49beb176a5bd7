// Rule files: parsing the compatible line format and matching host names against it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/host.hpp"
#include "core/ip_address.hpp"
#include "core/problem.hpp"
#include "core/result.hpp"

namespace egressd::core {

// What a rule line is. A line that starts with "domain:", "host:" or "ip:" (lower case)
// is one of the literal forms; any other line is a POSIX extended regular expression.
enum class RuleKind : std::uint8_t {
  regex,   // matched anywhere in the host name, case-insensitively
  domain,  // "domain:NAME[:PORT]": NAME and every subdomain of it
  host,    // "host:NAME[:PORT]": exactly NAME
  ip,      // "ip:ADDRESS[/PREFIX]": IP-literal hosts inside that network
};

// One rule line as written. parse_rules() fills pattern and line; HostMatcher::compile()
// fills the rest from the pattern.
struct Rule {
  std::string pattern;  // the line without surrounding whitespace
  int line = 0;         // 1-based line number in its file
  RuleKind kind = RuleKind::regex;
  std::string name{};      // domain/host: the normalised name
  std::uint16_t port = 0;  // domain/host: the port the line names, 0 when none
  IpAddress network{};     // ip: the network address (host bits zero)
  int prefix_length = 0;   // ip: 0..32 (IPv4) or 0..128 (IPv6)
};

// Splits a rules file into rules. Format: one pattern per line; leading and trailing
// whitespace is trimmed; blank lines and lines whose first non-blank character is '#'
// are ignored; there is no length limit on lines; CR before LF is dropped.
// A NUL byte or a line that is not valid UTF-8 is a Problem (error) with its line.
struct ParsedRules {
  std::vector<Rule> rules;
  Problems problems;
};
ParsedRules parse_rules(std::string_view file_path, std::string_view content);

// Matches normalised host names against a list of rules with RE2, case-insensitively,
// unanchored (a pattern matches if it matches anywhere in the name, as before).
// Immutable after compile(); safe to share between threads.
class HostMatcher {
 public:
  HostMatcher();
  ~HostMatcher();
  HostMatcher(HostMatcher&&) noexcept;
  HostMatcher& operator=(HostMatcher&&) noexcept;

  // Classifies every rule (see RuleKind) and compiles the regular expressions with POSIX
  // extended syntax. A pattern RE2 rejects (or that uses a feature it cannot run in
  // linear time, such as back-references), an invalid name or port on a domain:/host:
  // line and an invalid network on an ip: line each give an error Problem naming
  // file_path and the rule's line; nothing is dropped quietly.
  // On any error the returned matcher is unusable and `problems` is non-empty.
  struct Compiled;
  static Compiled compile(std::string_view file_path, std::vector<Rule> rules);

  // Index (into rules()) of the first rule, in file order, that matches `host` on `port`.
  // A domain:/host: rule that names a port matches only that port; other rules match
  // any port. Port 0 means "any port": port suffixes are then ignored. With
  // `explicit_port_only`, only domain:/host: rules naming `port` are considered.
  // nullopt when none matches.
  std::optional<std::size_t> first_match(const Host& host, std::uint16_t port = 0,
                                         bool explicit_port_only = false) const;
  // The same for a normalised host name given as text (an IP literal is recognised).
  std::optional<std::size_t> first_match(std::string_view host) const;

  const std::vector<Rule>& rules() const { return rules_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<Rule> rules_;
};

struct HostMatcher::Compiled {
  HostMatcher matcher;
  Problems problems;
};

// The rule line that allows exactly `host_name` (a normalised name): regex
// metacharacters escaped and anchored, e.g. "^www\.example\.com$".
std::string exact_host_rule(std::string_view host_name);

// The rule line `egressctl allow/deny` adds for `host` (as a user types it; normalised
// here): the anchored, escaped regex of the block page ("^www\.example\.com$"), or with
// `subdomains` "(^|\.)example\.com$"; with a `port` (1..65535) the literal form that can
// carry it ("host:NAME:PORT", "domain:NAME:PORT"). Errors: an invalid host name; an IP
// literal with `subdomains` or a `port` (an "ip:" rule has neither).
Result<std::string> rule_for_host(std::string_view host, bool subdomains, std::uint16_t port);

}  // namespace egressd::core
