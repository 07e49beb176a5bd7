// Fuzz target: host normalisation accepts only what it promises and is idempotent.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/host.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto host = egressd::core::normalize_host(input);
  if (!host) return 0;
  const std::string& name = host->name;
  FUZZ_CHECK(!name.empty() && name.size() <= 253);
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.' || (host->is_ip() && c == ':');
    FUZZ_CHECK(ok);
  }
  // The normalised form normalises to itself (IPv6 goes back in brackets).
  const std::string again = host->ip && host->ip->is_v6() ? "[" + name + "]" : name;
  const auto second = egressd::core::normalize_host(again);
  FUZZ_CHECK(second.ok());
  FUZZ_CHECK(second->name == name);
  FUZZ_CHECK(second->ip == host->ip);
  return 0;
}
