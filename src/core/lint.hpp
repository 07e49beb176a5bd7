// Rules-file lint: lines that compile but probably do not mean what their author wanted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/problem.hpp"

namespace egressd::core {

// What is suspicious about a rule line. Each names a mistake seen in real filter files.
enum class LintClass : std::uint8_t {
  unanchored,          // a regex that also matches inside longer host names
  unescaped_dot,       // "." between name characters: any character, not just a dot
  matches_everything,  // a regex (or ip:0.0.0.0/0, ip:::/0) that every host matches
  matches_nothing,     // a regex no valid host name can match (a URL, a port, "^$")
  duplicate,           // the same rule as an earlier line
  shadowed,            // an earlier line matches every host this one matches, first
};

// The stable, machine-readable name of a class: "unanchored", "unescaped-dot",
// "matches-everything", "matches-nothing", "duplicate" or "shadowed".
std::string_view lint_class_code(LintClass c);

// One warning about one rule line.
struct LintWarning {
  LintClass kind = LintClass::unanchored;
  std::string file;
  int line = 0;         // 1-based line of the rule warned about
  std::string message;  // one sentence for people: names the pattern, and what to write
                        // instead when there is an obvious fix

  // A Problem with severity warning, this file and line, and the message prefixed by
  // "[code] " (lint_class_code), so that `--check`-style output can show it as it is.
  Problem to_problem() const;
};

struct LintResult {
  Problems errors;                    // what parse_rules and HostMatcher::compile report;
                                      // when there are any, `warnings` is empty
  std::vector<LintWarning> warnings;  // by line; within a line, in LintClass order
};

// Lints the content of one rules file. The file is parsed and compiled exactly as the
// daemon does (parse_rules, then HostMatcher::compile); any error from either is returned
// in `errors`, sorted by line, and then no warnings are given, since a file that does not
// load has no meaning to check. Otherwise each rule gets at most one warning per
// LintClass. Warnings are heuristics that err on the side of silence: a warning means the
// line is very likely wrong; no warning does not prove a line right. Pure: no I/O.
LintResult lint_rules(std::string_view file_path, std::string_view content);

}  // namespace egressd::core
