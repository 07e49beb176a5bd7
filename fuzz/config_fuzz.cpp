// Fuzz target: any config text parses to a config or to located problems, never crashes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/config.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parsed = egressd::core::parse_config("fuzz.toml", input);
  for (const auto& problem : parsed.problems) FUZZ_CHECK(problem.file == "fuzz.toml");
  return 0;
}
