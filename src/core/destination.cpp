// Destination address classes and the decision whether egressd may connect to one.
#include "core/destination.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace egressd::core {

namespace {

Network net(std::string_view text) { return parse_network(text).value(); }

// Ranges that are not `global`, most specific first where they overlap.
const std::vector<std::pair<Network, AddressClass>>& special_ranges() {
  static const std::vector<std::pair<Network, AddressClass>> ranges = {
      {net("0.0.0.0/8"), AddressClass::unspecified},
      {net("127.0.0.0/8"), AddressClass::loopback},
      {net("10.0.0.0/8"), AddressClass::private_use},
      {net("172.16.0.0/12"), AddressClass::private_use},
      {net("192.168.0.0/16"), AddressClass::private_use},
      {net("100.64.0.0/10"), AddressClass::shared},
      {net("169.254.0.0/16"), AddressClass::link_local},
      {net("192.0.0.0/24"), AddressClass::reserved},
      {net("192.0.2.0/24"), AddressClass::reserved},
      {net("198.18.0.0/15"), AddressClass::reserved},
      {net("198.51.100.0/24"), AddressClass::reserved},
      {net("203.0.113.0/24"), AddressClass::reserved},
      {net("224.0.0.0/4"), AddressClass::multicast},
      {net("255.255.255.255/32"), AddressClass::broadcast},
      {net("240.0.0.0/4"), AddressClass::reserved},
      {net("::/128"), AddressClass::unspecified},
      {net("::1/128"), AddressClass::loopback},
      {net("fe80::/10"), AddressClass::link_local},
      {net("fec0::/10"), AddressClass::private_use},
      {net("fc00::/7"), AddressClass::unique_local},
      {net("ff00::/8"), AddressClass::multicast},
      {net("100::/64"), AddressClass::reserved},
      {net("2001:db8::/32"), AddressClass::reserved},
      {net("2001::/23"), AddressClass::reserved},
  };
  return ranges;
}

// The IPv4 address an IPv6 address embeds and reaches, if it is one of those forms.
std::optional<IpAddress> embedded_v4(const IpAddress& ip) {
  if (!ip.is_v6()) return std::nullopt;
  const auto& b = ip.bytes();
  const auto zeros = [&](std::size_t from, std::size_t to) {
    return std::all_of(b.begin() + static_cast<std::ptrdiff_t>(from),
                       b.begin() + static_cast<std::ptrdiff_t>(to),
                       [](std::uint8_t x) { return x == 0; });
  };
  const IpAddress v4 = IpAddress::v4({b[12], b[13], b[14], b[15]});
  if (zeros(0, 10) && b[10] == 0xff && b[11] == 0xff) return v4;  // ::ffff:a.b.c.d
  // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1 themselves.
  if (zeros(0, 12) && !(zeros(12, 15) && b[15] <= 1)) return v4;
  // 64:ff9b::/96, the well-known NAT64 prefix.
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zeros(4, 12)) return v4;
  return std::nullopt;
}

bool in_any(const std::vector<Network>& networks, const IpAddress& ip) {
  return std::any_of(networks.begin(), networks.end(),
                     [&](const Network& n) { return n.contains(ip); });
}

}  // namespace

AddressClass classify_address(const IpAddress& ip) {
  if (const auto v4 = embedded_v4(ip)) return classify_address(*v4);
  for (const auto& [network, cls] : special_ranges()) {
    if (network.contains(ip)) return cls;
  }
  return AddressClass::global;
}

std::string_view describe(AddressClass c) {
  switch (c) {
    case AddressClass::global:
      return "a public address";
    case AddressClass::unspecified:
      return "an unspecified (\"this network\") address";
    case AddressClass::loopback:
      return "a loopback address";
    case AddressClass::private_use:
      return "a private address (RFC 1918)";
    case AddressClass::shared:
      return "a carrier-grade NAT address (RFC 6598)";
    case AddressClass::link_local:
      return "a link-local address";
    case AddressClass::unique_local:
      return "a unique local IPv6 address (RFC 4193)";
    case AddressClass::multicast:
      return "a multicast address";
    case AddressClass::broadcast:
      return "the broadcast address";
    case AddressClass::reserved:
      return "a reserved address";
  }
  return "an address of unknown kind";
}

std::optional<std::string> destination_refusal(const IpAddress& ip, std::uint16_t port,
                                               const DestinationRules& rules) {
  const IpAddress plain = embedded_v4(ip).value_or(ip);
  const auto is_own = [&](const IpAddress& a) {
    return std::find(rules.own_addresses.begin(), rules.own_addresses.end(), a) !=
           rules.own_addresses.end();
  };
  const AddressClass cls = classify_address(plain);
  for (const auto& listen : rules.listen) {
    if (listen.port != port) continue;
    const bool wildcard = classify_address(listen.address) == AddressClass::unspecified;
    const bool same = listen.address == plain ||
                      (wildcard && (is_own(plain) || cls == AddressClass::loopback ||
                                    cls == AddressClass::unspecified));
    if (same) {
      return "request loop: " + Endpoint{plain, port}.to_string() +
             " is egressd's own listening address";
    }
  }
  if (in_any(rules.allowed, plain) || in_any(rules.allowed, ip)) return std::nullopt;
  if (cls != AddressClass::global) {
    return plain.to_string() + " is " + std::string(describe(cls));
  }
  if (is_own(plain)) return plain.to_string() + " is an address of the proxy host itself";
  return std::nullopt;
}

}  // namespace egressd::core
