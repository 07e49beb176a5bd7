// The control socket: JSON lines over a unix socket, one coroutine per connection.
#include "server/control_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <array>

#include "core/decision_log.hpp"

namespace egressd::server {

using nlohmann::json;
namespace asio = io::asio;
using io::error_code;
using local_protocol = asio::local::stream_protocol;

ControlServer::ControlServer(asio::io_context& io, ControlActions& actions,
                             std::chrono::seconds idle_timeout, io::DecisionFeed* feed)
    : io_(io), actions_(actions), idle_timeout_(idle_timeout), feed_(feed), acceptor_(io) {}

ControlServer::~ControlServer() {
  close();
}

namespace {

std::string system_error(int err) {
  return std::strerror(err);
}

// Creates the missing folders of `dir` with mode 0755 (as umask allows).
bool make_folders(const std::string& dir, std::string& error) {
  for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      error = "cannot create the folder " + prefix + ": " + system_error(errno);
      return false;
    }
  }
  return true;
}

// True when something accepts connections on the unix socket at `path`.
bool socket_answers(const std::string& path) {
  asio::io_context probe_io;
  local_protocol::socket probe(probe_io);
  error_code ec;
  probe.connect(local_protocol::endpoint(path), ec);
  return !ec;
}

}  // namespace

bool open_private_socket(local_protocol::acceptor& acceptor, const std::string& path,
                         std::string& why) {
  const auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (!make_folders(path.substr(0, slash), why)) return false;
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      why = "the file exists and is not a socket";
      return false;
    }
    if (socket_answers(path)) {
      why = "another egressd is answering on it";
      return false;
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      why = "cannot remove the stale socket: " + system_error(errno);
      return false;
    }
  }

  error_code ec;
  acceptor.open(local_protocol(), ec);
  if (ec) {
    why = ec.message();
    return false;
  }
  // Nobody but the owner (root) may ever connect, not even between bind and chmod.
  const mode_t old_mask = ::umask(0177);
  acceptor.bind(local_protocol::endpoint(path), ec);
  ::umask(old_mask);
  if (!ec && ::chmod(path.c_str(), 0600) != 0) {
    ec = error_code(errno, boost::system::system_category());
  }
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    why = ec.message();
    error_code ignored;
    acceptor.close(ignored);
    ::unlink(path.c_str());
    return false;
  }
  return true;
}

bool ControlServer::open(const std::string& path, std::string& error) {
  std::string why;
  if (!open_private_socket(acceptor_, path, why)) {
    error = "cannot open the control socket " + path + ": " + why;
    return false;
  }
  path_ = path;
  spdlog::info("control socket path={}", core::log_value(path));
  return true;
}

void ControlServer::start() {
  if (acceptor_.is_open()) asio::co_spawn(io_, accept_loop(), asio::detached);
}

void ControlServer::close() {
  error_code ignored;
  if (acceptor_.is_open()) acceptor_.close(ignored);
  for (Socket* socket : connections_) socket->close(ignored);
  if (!path_.empty()) {
    ::unlink(path_.c_str());
    path_.clear();
  }
}

io::awaitable<void> ControlServer::accept_loop() {
  for (;;) {
    error_code ec;
    Socket socket = co_await acceptor_.async_accept(io::with_ec(ec));
    if (!acceptor_.is_open()) co_return;
    if (ec) continue;  // e.g. out of descriptors: the client sees its connection closed
    if (connections_.size() >= kMaxConnections) {
      spdlog::warn("control: {} connections already open; refusing another", kMaxConnections);
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

namespace {

// The idle deadline of one control connection. Its handler holds the state, so it stays
// valid even when the connection's coroutine has already ended.
struct IdleDeadline {
  explicit IdleDeadline(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  local_protocol::socket* socket = nullptr;  // null once the connection has ended
};

void arm(const std::shared_ptr<IdleDeadline>& deadline, std::chrono::seconds idle) {
  deadline->timer.expires_after(idle);
  deadline->timer.async_wait([deadline](const error_code& ec) {
    if (ec || deadline->socket == nullptr) return;
    // A re-armed timer has a later expiry: this wait is then out of date.
    if (deadline->timer.expiry() > asio::steady_timer::clock_type::now()) return;
    error_code ignored;
    deadline->socket->close(ignored);
  });
}

std::string dump(const json& answer) {
  return answer.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

io::awaitable<void> ControlServer::serve(Socket socket) {
  connections_.insert(&socket);
  auto deadline = std::make_shared<IdleDeadline>(io_);
  deadline->socket = &socket;
  std::string buffer;
  for (;;) {
    arm(deadline, idle_timeout_);
    error_code ec;
    const std::size_t n = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(buffer, kMaxLine + 1), '\n', io::with_ec(ec));
    ControlAnswer reply;
    if (ec == asio::error::not_found) {
      reply = {control_failure("invalid request: the request line is longer than 64 KiB"), true};
    } else if (ec) {
      break;  // closed by the client, by the idle deadline or by close()
    } else {
      std::string_view line(buffer.data(), n - 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos) {
        buffer.erase(0, n);
        continue;  // blank lines are not requests
      }
      reply = answer_control_line(line, actions_);
      buffer.erase(0, n);
    }
    std::string text = dump(reply.answer);
    if (reply.watch) {
      // A watch has no idle deadline: it lasts until the watcher goes. Subscribed before
      // the answer is sent, so every decision after the answer is in the stream.
      deadline->socket = nullptr;
      deadline->timer.cancel();
      co_await stream_decisions(socket, reply.watch_client, std::move(text));
      break;
    }
    co_await asio::async_write(socket, asio::buffer(text), io::with_ec(ec));
    if (ec || reply.close) break;
  }
  deadline->socket = nullptr;
  deadline->timer.cancel();
  connections_.erase(&socket);
  error_code ignored;
  socket.close(ignored);
}

// What a watching connection has waiting, shared with the feed's subscriber and with the
// coroutine that notices the watcher closing.
struct ControlServer::Watch {
  explicit Watch(asio::io_context& io) : wake(io) {}
  asio::steady_timer wake;
  std::deque<std::string> lines;
  std::uint64_t dropped = 0;       // not kept here: this watcher was too slow
  std::uint64_t feed_dropped = 0;  // the feed's own count when last looked at
  bool closed = false;
  bool reading = true;  // wait_for_close() has not returned yet
};

namespace {

json event_json(const io::DecisionEvent& e) {
  return json{{"time", format_utc(e.time)},
              {"client", e.label.empty() ? json(nullptr) : json(e.label)},
              {"address", e.client.to_string()},
              {"method", e.method},
              {"host", e.host},
              {"port", e.port},
              {"verdict", e.allowed ? "allow" : "deny"},
              {"reason", e.reason},
              {"rule", e.rule.empty() ? json(nullptr) : json(e.rule)}};
}

}  // namespace

io::awaitable<void> ControlServer::wait_for_close(Socket& socket, std::shared_ptr<Watch> watch) {
  // A watcher sends nothing more; anything it sends is ignored, EOF or an error ends it.
  std::array<char, 256> sink{};
  for (;;) {
    error_code ec;
    co_await socket.async_read_some(asio::buffer(sink), io::with_ec(ec));
    if (ec) break;
  }
  watch->closed = true;
  watch->reading = false;
  watch->wake.cancel();
}

io::awaitable<void> ControlServer::stream_decisions(Socket& socket,
                                                    std::optional<core::IpAddress> client,
                                                    std::string answer) {
  auto watch = std::make_shared<Watch>(io_);
  watch->lines.push_back(std::move(answer));
  if (feed_ == nullptr) {
    error_code ec;
    co_await asio::async_write(socket, asio::buffer(watch->lines.front()), io::with_ec(ec));
    co_return;
  }
  const auto id = feed_->subscribe([watch, client](const io::DecisionEvent& event) {
    if (client && event.client != *client) return;
    if (watch->lines.size() >= kMaxWatchBacklog) {
      ++watch->dropped;
      return;
    }
    watch->lines.push_back(dump(event_json(event)));
    watch->wake.cancel();
  });
  watch->feed_dropped = feed_->dropped();
  asio::co_spawn(io_, wait_for_close(socket, watch), asio::detached);
  while (!watch->closed) {
    if (watch->lines.empty()) {
      error_code ec;
      watch->wake.expires_after(std::chrono::hours(24));
      co_await watch->wake.async_wait(io::with_ec(ec));
      continue;
    }
    std::string text;
    for (const auto& line : watch->lines) text += line;
    watch->lines.clear();
    // Decisions lost on the way (the feed's bound, or this watcher's) came after the
    // lines above: say so after them.
    const auto feed_dropped = feed_->dropped();
    watch->dropped += feed_dropped - watch->feed_dropped;
    watch->feed_dropped = feed_dropped;
    if (watch->dropped > 0) {
      text += dump(json{{"dropped", watch->dropped}});
      watch->dropped = 0;
    }
    error_code ec;
    co_await asio::async_write(socket, asio::buffer(text), io::with_ec(ec));
    if (ec) break;
  }
  feed_->unsubscribe(id);
  // The reader must be done with the socket before the caller destroys it.
  error_code ignored;
  socket.close(ignored);
  while (watch->reading) {
    watch->wake.expires_after(std::chrono::milliseconds(10));
    error_code ec;
    co_await watch->wake.async_wait(io::with_ec(ec));
  }
}

}  // namespace egressd::server
