// The control socket: a unix-socket JSON-lines server for egressctl
// (docs/control-protocol.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/policy.hpp"
#include "core/policy_diff.hpp"
#include "core/problem.hpp"
#include "io/asio.hpp"
#include "io/decision_feed.hpp"
#include "io/client_activity.hpp"
#include "io/policy_store.hpp"
#include "server/control_commands.hpp"

namespace egressd::server {

// Serves the control socket on the io_context it is given (the control thread's). Each
// connection is its own coroutine with a bounded line and an idle deadline, so one slow
// or hostile client cannot hold up another.
// Opens a listening unix socket at `path` that only its owner (root) may connect to:
// folders made as needed (0755), a stale socket replaced, a live one (another egressd
// answers) or another kind of file refused. Returns false and sets `why` otherwise.
bool open_private_socket(io::asio::local::stream_protocol::acceptor& acceptor,
                         const std::string& path, std::string& why);

class ControlServer {
 public:
  static constexpr std::size_t kMaxLine = 64 * 1024;
  static constexpr std::size_t kMaxConnections = 32;

  static constexpr std::size_t kMaxWatchBacklog = 4096;  // lines waiting for a slow watcher

  // `feed` serves "watch"; without it, watch answers but streams nothing.
  ControlServer(io::asio::io_context& io, ControlActions& actions,
                std::chrono::seconds idle_timeout = std::chrono::seconds(60),
                io::DecisionFeed* feed = nullptr);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Creates the socket at `path` with mode 0600, its folder (0755) if missing. A file
  // left at `path` is replaced only when it is a socket nobody answers on. Returns
  // false with `error` set (one sentence) when the socket cannot be made.
  bool open(const std::string& path, std::string& error);

  // Starts accepting (after open()).
  void start();

  // Stops accepting, closes every connection and removes the socket file. The
  // io_context must run a little longer for the connections' coroutines to finish.
  void close();

 private:
  using Socket = io::asio::local::stream_protocol::socket;
  io::awaitable<void> accept_loop();
  io::awaitable<void> serve(Socket socket);
  struct Watch;
  // Sends `answer`, then streams decisions (of `client` only, when set) to a watching
  // connection until it closes (or close()).
  io::awaitable<void> stream_decisions(Socket& socket, std::optional<core::IpAddress> client,
                                       std::string answer);
  static io::awaitable<void> wait_for_close(Socket& socket, std::shared_ptr<Watch> watch);

  io::asio::io_context& io_;
  ControlActions& actions_;
  std::chrono::seconds idle_timeout_;
  io::DecisionFeed* feed_;
  io::asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  std::unordered_set<Socket*> connections_;
};

}  // namespace egressd::server
