// The rule tools of egressctl: adding a rule to a rules file safely, linting rules files,
// and the text people see for check, blocked, watch and suggest.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/problem.hpp"

namespace egressd::ctl {

struct AppendOutcome {
  bool added = false;  // false: the line was there already (see `line`) or an error
  int line = 0;        // the line number of the rule in the file afterwards
  std::string error;   // one sentence naming the file, empty on success
};

// Appends `rule` as a line of the rules file at `path`, unless a line equal to it (after
// trimming) is there already. The new content goes to a temporary file in the same folder
// (a hidden name egressd skips), which gets the original's mode and owner, is flushed to
// disk and renamed over the original: a reader sees the old file or the new one, never a
// part. A missing final newline is added before the rule.
AppendOutcome append_rule(const std::string& path, const std::string& rule);

// The rules files `egressctl lint` looks at: every rules file of `folder` (the names
// egressd would load or warn about), or only the one of client `name` (a label, an
// address, or a file path). Errors (an unreadable folder, no such client) go to `error`.
std::vector<std::string> lint_targets(const std::string& folder, const std::string& name,
                                      std::string& error);

// Lints one file (core::lint_rules on its content); a file that cannot be read is an
// error problem naming it. Errors and warnings in line order.
core::Problems lint_file(const std::string& path);

// "allow  GET http://example.com/  work.10.137.0.12:3 ^example\.com$" style lines for the
// answer of "check", one per checked request, with the reason in words.
std::string format_check(const nlohmann::json& answer);

// The "blocked" table: COUNT LAST(UTC) HOST PORTS, most frequent first (as answered).
std::string format_blocked(const nlohmann::json& answer);

// One line of `watch` for a decision event.
std::string format_event(const nlohmann::json& event);

}  // namespace egressd::ctl
