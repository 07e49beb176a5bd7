// Opening connections to origins: resolve the checked host, then connect to its addresses.
#include "io/upstream.hpp"

#include <vector>

namespace egressd::io {

core::IpAddress to_core(const asio::ip::address& address) {
  if (address.is_v4()) return core::IpAddress::v4(address.to_v4().to_bytes());
  return core::IpAddress::v6(address.to_v6().to_bytes());
}

asio::ip::address to_asio(const core::IpAddress& address) {
  const auto& b = address.bytes();
  if (address.is_v4()) return asio::ip::address_v4({b[0], b[1], b[2], b[3]});
  return asio::ip::address_v6(b);
}

bool may_reach(const tcp::endpoint& peer, const core::DestinationRules& destinations) {
  return !core::destination_refusal(to_core(peer.address()).unmapped(), peer.port(), destinations);
}

awaitable<ConnectOutcome> connect_upstream(Resolver& resolver, const core::Host& host,
                                           std::uint16_t port, std::chrono::seconds connect_timeout,
                                           const core::DestinationRules& destinations,
                                           beast::tcp_stream& stream) {
  using Status = ConnectOutcome::Status;
  std::vector<core::IpAddress> addresses;
  if (host.ip) {
    addresses.push_back(*host.ip);
  } else {
    auto resolved = co_await resolver.resolve(host.name);
    switch (resolved.status) {
      case ResolveResult::Status::ok:
        addresses = std::move(resolved.addresses);
        break;
      case ResolveResult::Status::not_found:
        co_return ConnectOutcome{
            Status::name_not_found, "no address found for " + host.name, {}, {}, 0};
      case ResolveResult::Status::timeout:
        co_return ConnectOutcome{
            Status::dns_timeout, "DNS lookup of " + host.name + " timed out", {}, {}, 0};
      case ResolveResult::Status::failure:
        co_return ConnectOutcome{Status::dns_failure,
                                 "DNS lookup of " + host.name + " failed: " + resolved.error,
                                 {},
                                 {}, 0};
    }
  }

  // The addresses that were checked are the only ones ever connected to. A name that
  // resolves to an internal address (DNS rebinding) ends here.
  std::string refusal;
  std::erase_if(addresses, [&](const core::IpAddress& address) {
    auto why = core::destination_refusal(address, port, destinations);
    if (why && refusal.empty()) refusal = std::move(*why);
    return why.has_value();
  });
  if (addresses.empty()) {
    std::string detail = "destination not allowed: ";
    detail += host.ip ? refusal : host.name + " (" + refusal + ")";
    co_return ConnectOutcome{Status::destination_refused, std::move(detail), {}, {}, 0};
  }

  // One deadline for all attempts, so a name with many dead addresses cannot hold the
  // client for longer than the configured connect timeout.
  stream.expires_after(connect_timeout);
  std::string last_error;
  for (const auto& address : addresses) {
    const tcp::endpoint endpoint(to_asio(address), port);
    error_code ec;
    co_await stream.async_connect(endpoint, with_ec(ec));
    const std::string peer = core::Endpoint{address, port}.to_string();
    if (!ec) {
      stream.expires_never();
      stream.socket().set_option(tcp::no_delay(true), ec);
      co_return ConnectOutcome{Status::connected, {}, peer, endpoint, 0};
    }
    if (ec == beast::error::timeout) {
      co_return ConnectOutcome{
          Status::connect_timeout, "connecting to " + peer + " timed out", peer, {}, 0};
    }
    last_error = peer + ": " + ec.message();
    // Asio leaves a socket it opened itself open after a failed connect; close it so the
    // next attempt starts from a fresh socket of the right family.
    error_code ignored;
    stream.socket().close(ignored);
  }
  co_return ConnectOutcome{Status::connect_failed, "could not connect to " + last_error, {}, {}, 0};
}

}  // namespace egressd::io
