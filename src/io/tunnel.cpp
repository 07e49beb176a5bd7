// CONNECT tunnels: full-duplex byte relay with half-close and an idle deadline.
#include "io/tunnel.hpp"

#include <array>

#include "io/join.hpp"

namespace egressd::io {
namespace {

using Clock = std::chrono::steady_clock;

struct TunnelState {
  tcp::socket& client;
  tcp::socket& origin;
  Clock::time_point last_activity = Clock::now();
  bool finished = false;
  TunnelResult result;

  // Ends both directions at once: used on errors and on the idle deadline.
  void abort(const error_code& ec) {
    if (result.error.empty() && ec) result.error = ec.message();
    error_code ignored;
    client.close(ignored);
    origin.close(ignored);
  }
};

// Moves bytes from `from` to `to` until `from` ends its sending.
awaitable<void> pump(TunnelState& state, tcp::socket& from, tcp::socket& to,
                     std::uint64_t& counter) {
  std::array<char, 16 * 1024> buffer;
  for (;;) {
    error_code ec;
    const auto n = co_await from.async_read_some(
        asio::buffer(buffer), with_ec(ec));
    if (ec == asio::error::eof) {
      // Half-close: pass the end of this direction on, keep the other one open.
      error_code ignored;
      to.shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    if (ec) {
      if (ec != asio::error::operation_aborted && ec != asio::error::bad_descriptor) {
        state.abort(ec);
      } else {
        state.abort({});
      }
      co_return;
    }
    state.last_activity = Clock::now();
    co_await asio::async_write(to, asio::buffer(buffer.data(), n),
                               with_ec(ec));
    if (ec) {
      state.abort(ec);
      co_return;
    }
    counter += n;
    state.last_activity = Clock::now();
  }
}

// Closes the tunnel when no byte has moved in either direction for `idle`.
awaitable<void> watchdog(TunnelState& state, asio::steady_timer& timer,
                         std::chrono::seconds idle) {
  while (!state.finished) {
    timer.expires_at(state.last_activity + idle);
    error_code ec;
    co_await timer.async_wait(with_ec(ec));
    if (state.finished) co_return;
    if (Clock::now() >= state.last_activity + idle) {
      state.result.idle_timeout = true;
      state.abort({});
      co_return;
    }
  }
}

}  // namespace

awaitable<TunnelResult> run_tunnel(tcp::socket& client, tcp::socket& origin,
                                   std::string client_early,
                                   std::chrono::seconds idle_timeout) {
  TunnelState state{client, origin, Clock::now(), false, {}};
  if (!client_early.empty()) {
    error_code ec;
    co_await asio::async_write(origin, asio::buffer(client_early),
                               with_ec(ec));
    if (ec) {
      state.abort(ec);
      co_return state.result;
    }
    state.result.client_to_origin += client_early.size();
  }

  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer idle_timer(executor);
  Join pumps(executor);
  pumps.spawn(pump(state, client, origin, state.result.client_to_origin));
  pumps.spawn(pump(state, origin, client, state.result.origin_to_client));
  Join guard(executor);
  guard.spawn(watchdog(state, idle_timer, idle_timeout));

  co_await pumps.wait();
  state.finished = true;
  idle_timer.cancel();
  co_await guard.wait();

  error_code ignored;
  client.close(ignored);
  origin.close(ignored);
  co_return state.result;
}

}  // namespace egressd::io
