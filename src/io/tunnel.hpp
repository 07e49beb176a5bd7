// CONNECT tunnels: full-duplex byte relay with half-close and an idle deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "io/asio.hpp"

namespace egressd::io {

struct TunnelResult {
  std::uint64_t client_to_origin = 0;
  std::uint64_t origin_to_client = 0;
  bool idle_timeout = false;  // closed because no byte moved for the idle deadline
  std::string error;          // first transport error, empty when both sides ended cleanly
};

// Relays bytes between `client` and `origin` until both directions have ended.
// `client_early` holds bytes the client sent after its CONNECT head (often the TLS
// ClientHello); they go to the origin first. When one side ends its sending (EOF), the
// other side's sending is shut down and the opposite direction keeps flowing, so no
// byte is lost in either direction. A transport error on either side aborts both, and so
// does closing either socket from elsewhere (Session::abort()). Closes both sockets before
// returning.
awaitable<TunnelResult> run_tunnel(tcp::socket& client, tcp::socket& origin,
                                   std::string client_early, std::chrono::seconds idle_timeout);

}  // namespace egressd::io
