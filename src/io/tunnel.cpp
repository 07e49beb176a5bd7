// CONNECT tunnels: full-duplex byte relay with half-close and an idle deadline.
//
// Each direction is a small state machine driven by completions on the sockets, not a
// coroutine with a buffer of its own. It copies through a large buffer that belongs to
// the worker thread (bytes stay there only between a recv() and the send() right after
// it), so bulk data moves in few system calls while a waiting tunnel holds no buffer
// beyond a small inbox per direction. (splice(2) through a pipe per direction was
// measured too: on loopback it cost as much CPU per byte and was slower end to end.)
#include "io/tunnel.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

namespace egressd::io {
namespace {

using Clock = std::chrono::steady_clock;

// The most one recv() takes. Fewer, larger system calls are most of what a tunnel costs
// per byte; the buffer is per worker thread, so its size costs nothing per tunnel. What
// `to` does not take at once waits in the direction's `pending_`, so a direction whose
// receiver is slower than its sender holds at most this much.
constexpr std::size_t kCopyChunk = 256 * 1024;
// What Asio's read reads into the direction's own inbox. A read started through Asio
// tries recv() first and, if it must wait, is finished by the reactor with no further
// system call; a readiness wait (async_wait) costs an epoll_ctl() each time in Boost 1.74.
// Small, since a waiting tunnel holds it; when it fills, the rest is read into the big
// buffer at once.
constexpr std::size_t kInbox = 2 * 1024;
// Bytes one direction moves before it lets the worker's other connections run.
constexpr std::uint64_t kFairShare = 1024 * 1024;

// Allocated on a thread's first tunnel rather than held in static TLS, which every thread
// of the process would carry (carved from its stack).
char* scratch_buffer() {
  thread_local std::unique_ptr<char[]> buffer;
  if (!buffer) buffer = std::make_unique_for_overwrite<char[]>(kCopyChunk);
  return buffer.get();
}

bool would_block(int error) {
  return error == EAGAIN || error == EWOULDBLOCK;
}

// What both directions share: the sockets, the idle deadline and the result.
struct Tunnel {
  tcp::socket& client;
  tcp::socket& origin;
  asio::steady_timer& idle_timer;
  Clock::time_point last_activity;
  int running;  // directions not yet ended
  TunnelResult result;

  // Ends both directions at once: used on errors and on the idle deadline. Errors that
  // only say a socket was closed here (by abort()) are not transport errors.
  void abort(const error_code& ec) {
    const bool closed_here =
        ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor;
    if (result.error.empty() && ec && !closed_here) result.error = ec.message();
    error_code ignored;
    client.close(ignored);
    origin.close(ignored);
  }

  // Wakes run_tunnel() once the last direction has ended.
  void direction_ended() {
    if (--running == 0) idle_timer.cancel();
  }
};

// One direction of a tunnel: moves bytes from `from` to `to` until `from` ends its
// sending, then shuts down the sending side of `to`.
class Relay {
 public:
  Relay(Tunnel& tunnel, tcp::socket& from, tcp::socket& to, std::uint64_t& moved,
        std::string pending)
      : tunnel_(tunnel), from_(from), to_(to), moved_(moved), pending_(std::move(pending)) {
    ++tunnel_.running;
  }
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  void start() { advance(); }

 private:
  enum class Next { readable, writable, yield, finished, failed };

  void advance();
  void resume(const error_code& ec);
  void received(const error_code& ec, std::size_t n);
  void end(const error_code& ec) {
    tunnel_.abort(ec);
    tunnel_.direction_ended();
  }
  Next step();
  Next copy();
  std::optional<Next> copy_once();
  std::optional<Next> send_pending();
  std::optional<Next> send_all(const char* data, std::size_t size, std::size_t& sent);
  Next fail(int error) {
    error_ = {error, asio::error::get_system_category()};
    return Next::failed;
  }

  Tunnel& tunnel_;
  tcp::socket& from_;
  tcp::socket& to_;
  std::uint64_t& moved_;  // bytes handed to `to`
  std::string pending_;   // read from `from` (or sent with the CONNECT), not yet sent on
  std::size_t pending_sent_ = 0;
  std::array<char, kInbox> inbox_;
  std::size_t in_inbox_ = 0;  // bytes Asio's read put in inbox_, not yet sent on
  bool more_queued_ = false;  // the last read filled its buffer: `from` may hold more
  bool eof_ = false;          // `from` has ended its sending
  std::uint64_t budget_ = 0;  // bytes this step may still move
  error_code error_;
};

// Moves what can be moved without blocking, then waits for the socket that holds things
// up, or ends the direction.
void Relay::advance() {
  switch (step()) {
    case Next::readable:
      from_.async_receive(asio::buffer(inbox_),
                          [this](const error_code& ec, std::size_t n) { received(ec, n); });
      return;
    case Next::writable:
      to_.async_wait(tcp::socket::wait_write, [this](const error_code& ec) { resume(ec); });
      return;
    case Next::yield:
      asio::post(from_.get_executor(), [this] { resume({}); });
      return;
    case Next::finished: {
      // Half-close: pass the end of this direction on, keep the other one open. When the
      // other one has ended already, run_tunnel() closes both sockets next, and the close
      // sends the same FIN (both sides have been read to their end).
      error_code ignored;
      if (tunnel_.running > 1) to_.shutdown(tcp::socket::shutdown_send, ignored);
      tunnel_.direction_ended();
      return;
    }
    case Next::failed:
      end(error_);
      return;
  }
}

void Relay::resume(const error_code& ec) {
  if (ec) return end(ec);
  advance();
}

void Relay::received(const error_code& ec, std::size_t n) {
  if (ec == asio::error::eof) {
    eof_ = true;
  } else if (ec) {
    return end(ec);
  }
  in_inbox_ = n;
  more_queued_ = n == inbox_.size();
  if (n > 0) tunnel_.last_activity = Clock::now();
  advance();
}

Relay::Next Relay::step() {
  // abort() (here or from the session) may have closed the sockets while a post was queued.
  if (!from_.is_open() || !to_.is_open()) {
    error_ = asio::error::operation_aborted;
    return Next::failed;
  }
  budget_ = kFairShare;
  const auto before = moved_;
  const Next next = copy();
  if (moved_ != before) tunnel_.last_activity = Clock::now();
  return next;
}

// Sends what is pending, then reads and sends on until `from` has nothing more, `to`
// takes nothing more, or this direction has had its share of the worker.
Relay::Next Relay::copy() {
  for (;;) {
    if (auto next = send_pending()) return *next;
    if (in_inbox_ == 0) {
      if (eof_) return Next::finished;
      // A read that did not fill its buffer emptied the socket: let Asio's read try.
      if (!more_queued_) return Next::readable;
    }
    if (budget_ == 0) return Next::yield;
    if (auto next = copy_once()) return *next;
  }
}

// Sends the inbox and, when the socket may hold more, what one recv() adds behind it in
// the scratch buffer (one send() for both). Returns nothing while there is more to do.
std::optional<Relay::Next> Relay::copy_once() {
  char* buffer = scratch_buffer();
  std::size_t size = std::exchange(in_inbox_, 0);
  std::memcpy(buffer, inbox_.data(), size);
  if (more_queued_) {
    const ssize_t n = ::recv(from_.native_handle(), buffer + size, kCopyChunk - size, MSG_DONTWAIT);
    if (n > 0) {
      size += static_cast<std::size_t>(n);
      more_queued_ = size == kCopyChunk;
    } else if (n == 0) {
      eof_ = true;
      more_queued_ = false;
    } else if (would_block(errno)) {
      more_queued_ = false;
    } else if (errno != EINTR) {
      return fail(errno);
    }
  }
  std::size_t sent = 0;
  const auto next = send_all(buffer, size, sent);
  if (next == Next::writable) pending_.assign(buffer + sent, size - sent);
  return next;
}

std::optional<Relay::Next> Relay::send_pending() {
  if (pending_sent_ == pending_.size()) return std::nullopt;
  if (auto next = send_all(pending_.data(), pending_.size(), pending_sent_)) return next;
  pending_.clear();
  pending_.shrink_to_fit();  // a waiting tunnel holds no buffer
  pending_sent_ = 0;
  return std::nullopt;
}

// Sends `data` from `sent` on until `to` would block (Next::writable) or fails.
std::optional<Relay::Next> Relay::send_all(const char* data, std::size_t size, std::size_t& sent) {
  while (sent < size) {
    const ssize_t n =
        ::send(to_.native_handle(), data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      moved_ += static_cast<std::uint64_t>(n);
      budget_ -= std::min<std::uint64_t>(budget_, static_cast<std::uint64_t>(n));
    } else if (would_block(errno)) {
      return Next::writable;
    } else if (errno != EINTR) {
      return fail(errno);
    }
  }
  return std::nullopt;
}

// Ends when both directions have ended. Closes the tunnel when no byte has moved in
// either direction for `idle`.
awaitable<void> wait_for_relays(Tunnel& tunnel, std::chrono::seconds idle) {
  bool timed_out = false;
  while (tunnel.running > 0) {
    tunnel.idle_timer.expires_at(timed_out ? Clock::time_point::max()
                                           : tunnel.last_activity + idle);
    error_code ec;
    co_await tunnel.idle_timer.async_wait(with_ec(ec));
    if (ec || tunnel.running == 0 || timed_out) continue;
    if (Clock::now() >= tunnel.last_activity + idle) {
      timed_out = true;
      tunnel.result.idle_timeout = true;
      tunnel.abort({});
    }
  }
}

}  // namespace

awaitable<TunnelResult> run_tunnel(tcp::socket& client, tcp::socket& origin,
                                   std::string client_early, std::chrono::seconds idle_timeout) {
  asio::steady_timer idle_timer(co_await asio::this_coro::executor);
  Tunnel tunnel{client, origin, idle_timer, Clock::now(), 0, {}};
  // The early bytes go first: they wait in the upstream direction's pending bytes.
  Relay upstream(tunnel, client, origin, tunnel.result.client_to_origin, std::move(client_early));
  Relay downstream(tunnel, origin, client, tunnel.result.origin_to_client, {});
  upstream.start();
  downstream.start();
  co_await wait_for_relays(tunnel, idle_timeout);

  error_code ignored;
  client.close(ignored);
  origin.close(ignored);
  co_return tunnel.result;
}

}  // namespace egressd::io
