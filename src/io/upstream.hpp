// Opening connections to origins: resolve the checked host, then connect to its addresses.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/destination.hpp"
#include "core/host.hpp"
#include "io/asio.hpp"
#include "io/resolver.hpp"

namespace egressd::io {

struct ConnectOutcome {
  enum class Status {
    connected,
    name_not_found,   // DNS: no such name or no address records -> 502
    dns_timeout,      // DNS did not answer in time -> 504
    dns_failure,      // DNS failed otherwise -> 502
    connect_failed,   // every address refused or unreachable -> 502
    connect_timeout,  // no address accepted in time -> 504
    destination_refused,  // every address is one egressd may not reach -> 403
    parent_refused,   // a parent proxy answered no, or not in its protocol -> parent_status
  };
  Status status = Status::connect_failed;
  std::string detail;        // for logs and error pages, e.g. "127.0.0.1:81: Connection refused"
  std::string peer;          // "ip:port" that was connected to
  tcp::endpoint endpoint;    // the same, when connected
  unsigned parent_status = 0;  // parent_refused: the HTTP status for the client

  bool ok() const { return status == Status::connected; }
  bool is_timeout() const {
    return status == Status::dns_timeout || status == Status::connect_timeout;
  }
};

// Resolves `host` (unless it is an IP literal), checks every address against
// `destinations` (core::destination_refusal) and connects `stream` to the first allowed
// address that accepts, trying them in resolver order, all within `connect_timeout`.
// Only checked addresses are ever connected to; when none may be reached the outcome is
// destination_refused with the reason of the first. The host given is the normalised
// host that the policy checked; nothing else is looked up.
awaitable<ConnectOutcome> connect_upstream(Resolver& resolver, const core::Host& host,
                                           std::uint16_t port,
                                           std::chrono::seconds connect_timeout,
                                           const core::DestinationRules& destinations,
                                           beast::tcp_stream& stream);

// Whether a connection to `peer` may still be used under `destinations`: a kept origin
// connection is checked again before each request it carries.
bool may_reach(const tcp::endpoint& peer, const core::DestinationRules& destinations);

// Converts between Asio and core address types.
core::IpAddress to_core(const asio::ip::address& address);
asio::ip::address to_asio(const core::IpAddress& address);

}  // namespace egressd::io
