// The control socket: a unix-socket JSON-lines server for egressctl
// (docs/control-protocol.md), and the dispatch of its commands.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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
#include "io/client_activity.hpp"
#include "io/policy_store.hpp"

namespace egressd::server {

// How a reload went. With ok, the new snapshot is in force; without, the old one stays.
struct ReloadResult {
  bool ok = false;
  std::uint64_t generation = 0;  // of the snapshot in force afterwards
  std::size_t clients = 0;       // clients with a rules file in force afterwards
  core::Problems problems;       // errors (only when !ok) and warnings
  core::PolicyDiff changed;      // empty when !ok
};

// What the control commands act on. Server implements it; tests use a fake. Called on
// the control thread only.
class ControlActions {
 public:
  virtual ~ControlActions() = default;

  virtual io::SnapshotPtr policy() const = 0;
  // Every client any worker knows, merged over the workers.
  virtual std::unordered_map<core::IpAddress, io::ClientStats> activity() = 0;
  virtual std::shared_ptr<const io::StoppedClients::Set> stopped() const = 0;
  virtual std::vector<std::string> listen_addresses() const = 0;
  virtual std::size_t worker_count() const = 0;

  virtual ReloadResult reload() = 0;
  virtual void set_stopped(const std::vector<core::IpAddress>& clients, bool stopped) = 0;
  // Closes the connections of those clients (of every client); returns how many.
  virtual std::size_t close_connections(const std::vector<core::IpAddress>& clients) = 0;
  virtual std::size_t close_all_connections() = 0;
};

// Answers one request object. Never throws for any JSON input: a request that is not an
// object with a "command" string, an unknown command, bad "clients" or an unknown client
// name give {"ok": false, "error": ...} and no side effect.
nlohmann::json dispatch_control_request(const nlohmann::json& request, ControlActions& actions);

struct ControlAnswer {
  nlohmann::json answer;
  bool close = false;  // the line was not a JSON object: answer, then close the connection
};

// Parses one request line (without its '\n') and dispatches it.
ControlAnswer answer_control_line(std::string_view line, ControlActions& actions);

// "2026-11-23T10:00:00Z".
std::string format_utc(io::SystemTime time);

// Serves the control socket on the io_context it is given (the control thread's). Each
// connection is its own coroutine with a bounded line and an idle deadline, so one slow
// or hostile client cannot hold up another.
class ControlServer {
 public:
  static constexpr std::size_t kMaxLine = 64 * 1024;
  static constexpr std::size_t kMaxConnections = 32;

  ControlServer(io::asio::io_context& io, ControlActions& actions,
                std::chrono::seconds idle_timeout = std::chrono::seconds(60));
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

  io::asio::io_context& io_;
  ControlActions& actions_;
  std::chrono::seconds idle_timeout_;
  io::asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  std::unordered_set<Socket*> connections_;
};

}  // namespace egressd::server
