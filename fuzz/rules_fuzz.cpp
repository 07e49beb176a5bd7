// Fuzz target: any rules file either compiles or is reported with a line, never crashes;
// the exact-host rule for a valid host always matches that host.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "core/host.hpp"
#include "core/rules.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = egressd::core::parse_rules("fuzz", input);
  for (const auto& problem : parsed.problems) FUZZ_CHECK(problem.line > 0);
  auto compiled = egressd::core::HostMatcher::compile("fuzz", std::move(parsed.rules));
  if (compiled.problems.empty()) {
    (void)compiled.matcher.first_match(input.substr(0, 253));
  }

  const auto host = egressd::core::normalize_host(input);
  if (host) {
    egressd::core::Rule rule{egressd::core::exact_host_rule(host->name), 1};
    auto exact = egressd::core::HostMatcher::compile("exact", {rule});
    FUZZ_CHECK(exact.problems.empty());
    FUZZ_CHECK(exact.matcher.first_match(host->name) == std::optional<std::size_t>(0));
  }
  return 0;
}
