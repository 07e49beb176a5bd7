// Small text helpers of the core.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace egressd::core {

// `text` with ASCII letters in lower case; other bytes unchanged.
inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

}  // namespace egressd::core
