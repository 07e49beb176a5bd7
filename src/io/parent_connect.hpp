// Opening a byte stream to host:port through a parent proxy (core/parent_proxy): TCP to the
// parent, then the handshake that asks it for host:port (HTTP CONNECT, SOCKS5, SOCKS4a).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/destination.hpp"
#include "core/host.hpp"
#include "core/parent_proxy.hpp"
#include "io/asio.hpp"
#include "io/resolver.hpp"
#include "io/upstream.hpp"

namespace egressd::io {

// Destination rules that let every address through: the parent's address is the one the
// config chose, not one a client asked for.
const core::DestinationRules& any_destination();

// Connects `stream` to `parent` (its name resolved here; its address never checked against
// the destination rules) and then:
// - `handshake` false with an HTTP parent: nothing more (plain requests go to it in
//   absolute form);
// - otherwise asks the parent for host:port (CONNECT for HTTP, SOCKS5 or SOCKS4a) and
//   waits for its answer, all within `handshake_timeout`.
// An IP literal `host` is checked against `destinations` first (destination_refused, 403),
// so that a client cannot reach an internal address through the parent; a name is sent to
// the parent as it is and resolved there, where egressd cannot check the address.
// Bytes the parent sent after its answer (the start of the tunnel) are left in `early`.
// Failures say which parent: connect_failed/connect_timeout/dns_* for the parent itself;
// parent_refused when it answered no (ConnectOutcome::parent_status holds the status for
// the client: the parent's own for an HTTP parent, 407 turned into 502).
awaitable<ConnectOutcome> connect_through_parent(
    Resolver& resolver, const core::ParentProxy& parent, const core::Host& host, std::uint16_t port,
    bool handshake, std::chrono::seconds connect_timeout, std::chrono::seconds handshake_timeout,
    const core::DestinationRules& destinations, beast::tcp_stream& stream,
    beast::flat_buffer& early);

}  // namespace egressd::io
