// IP networks in CIDR notation ("10.0.0.0/8", "fd00::/8"): parsing and membership.
#pragma once

#include <string>
#include <string_view>

#include "core/ip_address.hpp"
#include "core/result.hpp"

namespace egressd::core {

struct Network {
  IpAddress address;      // host bits zero
  int prefix_length = 0;  // 0..32 (IPv4) or 0..128 (IPv6)

  // Whether `ip` lies inside the network. An IPv4-mapped IPv6 address is not unmapped
  // here: callers compare addresses in the form they hold them.
  bool contains(const IpAddress& ip) const;
  // "10.0.0.0/8"; a full-length network is written with its prefix too ("10.0.0.1/32").
  std::string to_string() const;

  friend bool operator==(const Network&, const Network&) = default;
};

// Parses "ADDRESS" (a single address: /32 or /128) or "ADDRESS/PREFIX". The address is a
// canonical literal (IpAddress::parse; IPv6 without brackets); the prefix is decimal
// without leading zeros. Errors: an invalid address or prefix, a prefix longer than the
// family allows, host bits set (the message suggests the network meant).
Result<Network> parse_network(std::string_view text);

}  // namespace egressd::core
