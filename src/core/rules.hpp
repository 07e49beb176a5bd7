// Rule files: parsing the compatible line format and matching host names against it.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/problem.hpp"

namespace egressd::core {

// One rule line as written: a POSIX extended regular expression.
struct Rule {
  std::string pattern;  // the line without surrounding whitespace
  int line = 0;         // 1-based line number in its file
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

  // Compiles every rule with POSIX extended syntax. A pattern RE2 rejects (or that
  // uses a feature it cannot run in linear time, such as back-references) gives an
  // error Problem naming file_path and the rule's line; it is never dropped quietly.
  // On any error the returned matcher is unusable and `problems` is non-empty.
  struct Compiled;
  static Compiled compile(std::string_view file_path, std::vector<Rule> rules);

  // Index (into rules()) of the first rule, in file order, that matches `host`;
  // nullopt when none does.
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

}  // namespace egressd::core
