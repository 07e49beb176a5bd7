// Identity by qube name over qrexec.
#include "core/qrexec.hpp"

#include <array>
#include <cstdint>

namespace egressd::core {
namespace {

bool is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool is_qube_name(std::string_view name) {
  if (name.empty() || name.size() > 31 || !is_letter(name.front())) return false;
  for (const char c : name) {
    if (!is_letter(c) && !is_digit(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

Result<QrexecCaller> parse_qrexec_descriptor(std::string_view text) {
  const std::size_t space = text.find(' ');
  if (space == std::string_view::npos) {
    return Error{"no space between the service and the calling qube"};
  }
  std::string_view service = text.substr(0, space);
  const std::string_view source = text.substr(space + 1);
  QrexecCaller caller;
  if (!service.starts_with(kQrexecService)) {
    return Error{"the service is not " + std::string(kQrexecService)};
  }
  service.remove_prefix(kQrexecService.size());
  if (!service.empty()) {
    if (service.front() != '+') return Error{"the service is not " + std::string(kQrexecService)};
    service.remove_prefix(1);
    if (!is_qube_name(service)) {
      return Error{"the argument must name a profile: 1 to 31 letters, digits, _ . -, "
                   "starting with a letter"};
    }
    caller.argument = std::string(service);
  }
  if (!is_qube_name(source)) {
    return Error{"the calling qube's name is not a qube name"};
  }
  caller.source = std::string(source);
  return caller;
}

IpAddress qube_address(std::string_view name) {
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a, 64 bits
  for (const char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  std::array<std::uint8_t, 16> bytes{};
  bytes[0] = 0x01;  // 100::/64
  for (int i = 0; i < 8; ++i) {
    bytes[static_cast<std::size_t>(15 - i)] = static_cast<std::uint8_t>(hash >> (8 * i));
  }
  return IpAddress::v6(bytes);
}

bool is_qube_address(const IpAddress& address) {
  if (!address.is_v6()) return false;
  const auto& bytes = address.bytes();
  if (bytes[0] != 0x01) return false;
  for (std::size_t i = 1; i < 8; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

}  // namespace egressd::core
