// Which addresses egressd may connect to: the check applied to every resolved (or
// literal) destination address before connecting, so that a name or a numeric trick
// cannot reach the proxy host, its networks or anything internal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/ip_address.hpp"
#include "core/network.hpp"

namespace egressd::core {

// What kind of address a destination is. Everything but `global` is refused unless a
// network the operator allows contains it.
enum class AddressClass : std::uint8_t {
  global,
  unspecified,     // 0.0.0.0/8 ("this network"), ::
  loopback,        // 127.0.0.0/8, ::1
  private_use,     // 10/8, 172.16/12, 192.168/16 (RFC 1918); fec0::/10 (old site-local)
  shared,          // 100.64.0.0/10 (carrier-grade NAT, RFC 6598)
  link_local,      // 169.254/16, fe80::/10
  unique_local,    // fc00::/7 (RFC 4193)
  multicast,       // 224/4, ff00::/8
  broadcast,       // 255.255.255.255
  reserved,        // 240/4, 192.0.0.0/24, documentation and benchmarking ranges, 100::/64...
};

// The class of `ip`. IPv6 forms that embed an IPv4 address and reach it
// (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96 NAT64) are classified by that IPv4 address.
AddressClass classify_address(const IpAddress& ip);

// "a loopback address", "a private address (RFC 1918)", ...
std::string_view describe(AddressClass c);

// What the check needs besides the address.
struct DestinationRules {
  std::vector<Network> allowed;          // allow_destinations: global plus the client's
  std::vector<IpAddress> own_addresses;  // the addresses of the proxy host's interfaces
  std::vector<Endpoint> listen;          // egressd's own listening endpoints
};

// Whether egressd may connect to ip:port. nullopt when it may; otherwise one sentence
// saying why not, e.g. "127.0.0.1 is a loopback address".
// In order: a connection to egressd's own listening endpoint (also through an address
// of this host when listening on 0.0.0.0 or ::) is a request loop and always refused;
// an address inside an allowed network may be reached; then everything that is not
// `global` is refused, and so is any address of the proxy host.
std::optional<std::string> destination_refusal(const IpAddress& ip, std::uint16_t port,
                                               const DestinationRules& rules);

}  // namespace egressd::core
