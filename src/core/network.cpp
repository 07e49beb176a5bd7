// CIDR networks: strict parsing (no host bits, no leading zeros) and membership.
#include "core/network.hpp"

#include <charconv>
#include <cstdint>
#include <optional>

namespace egressd::core {

bool Network::contains(const IpAddress& ip) const {
  if (ip.family() != address.family()) return false;
  const auto& a = ip.bytes();
  const auto& n = address.bytes();
  const int full = prefix_length / 8;
  for (int i = 0; i < full; ++i) {
    if (a[static_cast<std::size_t>(i)] != n[static_cast<std::size_t>(i)]) return false;
  }
  const int rest = prefix_length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFFu << (8 - rest));
  return (a[static_cast<std::size_t>(full)] & mask) == (n[static_cast<std::size_t>(full)] & mask);
}

std::string Network::to_string() const {
  return address.to_string() + "/" + std::to_string(prefix_length);
}

Result<Network> parse_network(std::string_view text) {
  std::string_view address_text = text;
  std::optional<int> prefix;
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    address_text = text.substr(0, slash);
    const std::string_view prefix_text = text.substr(slash + 1);
    int value = -1;
    const auto [end, ec] =
        std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), value);
    if (prefix_text.empty() || ec != std::errc{} ||
        end != prefix_text.data() + prefix_text.size() ||
        (prefix_text.size() > 1 && prefix_text.front() == '0') || value < 0) {
      return Error{"invalid prefix length \"" + std::string(prefix_text) + "\""};
    }
    prefix = value;
  }
  const auto address = IpAddress::parse(address_text);
  if (!address) {
    return Error{"invalid IP address \"" + std::string(address_text) +
                 "\" (IPv4 as a.b.c.d, IPv6 without brackets)"};
  }
  const int max_prefix = address->is_v4() ? 32 : 128;
  const int length = prefix.value_or(max_prefix);
  if (length > max_prefix) {
    return Error{"prefix length /" + std::to_string(length) + " is too long for " +
                 (address->is_v4() ? std::string("IPv4 (at most /32)")
                                   : std::string("IPv6 (at most /128)"))};
  }
  auto bytes = address->bytes();
  for (int bit = length; bit < max_prefix; ++bit) {
    bytes[static_cast<std::size_t>(bit / 8)] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  const IpAddress network = address->is_v4()
                                ? IpAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]})
                                : IpAddress::v6(bytes);
  if (network != *address) {
    return Error{"host bits set; did you mean " + network.to_string() + "/" +
                 std::to_string(length)};
  }
  return Network{network, length};
}

}  // namespace egressd::core
