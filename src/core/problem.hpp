// A problem found in a config or rules file, located by file and line.
#pragma once

#include <string>
#include <vector>

namespace egressd::core {

struct Problem {
  enum class Severity { error, warning };

  Severity severity = Severity::error;
  std::string file;  // path as given to the parser
  int line = 0;      // 1-based; 0 when the problem concerns the whole file
  std::string message;

  // "file:line: error: message" (":line" omitted when line is 0).
  std::string to_string() const;
};

using Problems = std::vector<Problem>;

bool has_errors(const Problems& problems);

}  // namespace egressd::core
