// Fuzz target: request-target parsing never yields a host that fails normalisation.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/request_target.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  using egressd::core::TargetForm;
  const auto form = egressd::core::classify_target(input);
  if (const auto absolute = egressd::core::parse_absolute_target(input)) {
    FUZZ_CHECK(form == TargetForm::absolute);
    FUZZ_CHECK(absolute->port != 0);
    FUZZ_CHECK(!absolute->origin_form.empty() && absolute->origin_form[0] == '/');
    // The host that was parsed is one normalisation accepts as it is.
    const auto& host = absolute->host;
    const auto again = egressd::core::normalize_host(
        host.ip && host.ip->is_v6() ? "[" + host.name + "]" : host.name);
    FUZZ_CHECK(again.ok() && again->name == host.name);
  }
  if (const auto authority = egressd::core::parse_authority_target(input)) {
    FUZZ_CHECK(authority->port != 0);
    FUZZ_CHECK(!authority->host.name.empty());
  }
  return 0;
}
