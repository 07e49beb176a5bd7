// Rendering of config and rules problems as compiler-style "file:line: severity: message".
#include "core/problem.hpp"

#include <algorithm>

namespace egressd::core {

std::string Problem::to_string() const {
  std::string out = file;
  if (line > 0) {
    out += ':';
    out += std::to_string(line);
  }
  out += severity == Severity::error ? ": error: " : ": warning: ";
  out += message;
  return out;
}

bool has_errors(const Problems& problems) {
  return std::any_of(problems.begin(), problems.end(),
                     [](const Problem& p) { return p.severity == Problem::Severity::error; });
}

}  // namespace egressd::core
