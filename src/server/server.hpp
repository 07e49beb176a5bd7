// Process wiring: listeners, worker threads with their own event loops, reload and shutdown.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/policy.hpp"
#include "io/asio.hpp"
#include "io/client_activity.hpp"
#include "io/policy_store.hpp"
#include "io/connection_limits.hpp"
#include "io/decision_feed.hpp"
#include "io/local_addresses.hpp"
#include "server/control_server.hpp"
#include "server/file_watcher.hpp"

namespace egressd::server {

// SIGHUP and SIGUSR1 end a process that has not set a handler for them. main() blocks
// them first thing (every thread started later inherits that), and Server::run() takes
// them on the control thread once its handler is in place: a reload asked for while
// egressd starts happens once it serves, instead of killing it.
void block_reload_signals();
void unblock_reload_signals();

// Builds a new snapshot from disk (config and rules as they are now); `previous` is the
// snapshot in force, whose rules a client keeps when its file has errors now.
using Reloader = std::function<core::SnapshotBuild(std::uint64_t generation,
                                                   const core::PolicySnapshot* previous)>;

// The main thread is the control thread: it runs the signal handling and the control
// socket on its own io_context. Everything that belongs to a worker (its sessions and
// their ClientActivity) is touched only on that worker's thread; the control thread
// posts a task to each worker and waits for the answers.
class Server final : private ControlActions {
 public:
  // `config_path` (empty when there is none) is watched for changes with the rules folder
  // when the snapshot says `watch`.
  Server(core::Config config, io::SnapshotPtr initial, Reloader reloader,
         std::string config_path = {});
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens every listen address on every worker (SO_REUSEPORT, so the kernel spreads
  // connections and a connection stays on the worker that accepted it). Refuses an
  // address another process already listens on. Logs "listening address=IP:PORT" once
  // per address, with the real port when 0 was asked for. Then opens the control socket
  // (config.control_socket, unless empty). Returns false and sets `error` when an
  // address or the control socket cannot be opened.
  bool listen(std::string& error);

  // Serves until SIGINT or SIGTERM; SIGHUP reloads config and rules (errors are logged
  // with file:line; a file with errors keeps its client's running rules), and so do the
  // control socket's reload and, with `watch`, any change of the config file or the
  // rules folder (debounced). Returns the exit code.
  int run();

  // Builds a new snapshot from disk and publishes it unless the config or the folder
  // could not be read. Logs the outcome; with recheck_tunnels, closes the open tunnels
  // the new rules deny. The one reload path of SIGHUP, the watcher and the control
  // socket; control thread only.
  ReloadResult reload() override;

 private:
  struct Worker;

  // Runs `task` on every worker's thread and returns the answers in worker order.
  template <class T>
  std::vector<T> on_each_worker(std::function<T(Worker&)> task);

  // ControlActions
  io::SnapshotPtr policy() const override { return policies_.current(); }
  std::unordered_map<core::IpAddress, io::ClientStats> activity() override;
  std::shared_ptr<const io::ClientSet::Set> stopped() const override {
    return stopped_.current();
  }
  std::shared_ptr<const io::ClientSet::Set> learning() const override {
    return learning_.current();
  }
  std::vector<std::string> listen_addresses() const override { return listening_; }
  std::size_t worker_count() const override { return workers_.size(); }
  void set_stopped(const std::vector<core::IpAddress>& clients, bool stopped) override;
  std::size_t close_connections(const std::vector<core::IpAddress>& clients) override;
  std::size_t close_all_connections() override;
  void set_learning(const std::vector<core::IpAddress>& clients, bool on) override;
  std::vector<io::DeniedRequest> denied(const core::IpAddress& client,
                                        std::optional<io::SystemTime> since) override;
  std::vector<io::LearnedRequest> learned(const core::IpAddress& client,
                                          std::uint64_t& dropped) override;

  // Closes, on every worker, the tunnels `snapshot` denies; returns how many.
  std::size_t close_denied_tunnels(const io::SnapshotPtr& snapshot);
  // Points the watcher at the config file and the snapshot's rules folder (or stops it).
  void update_watch(const core::PolicySnapshot& snapshot);
  // Reads this host's addresses for the destination check, now / every 10 s.
  void refresh_local_addresses();
  void schedule_address_refresh();
  // Accepts qrexec connections (config.qrexec_socket) on the control thread and hands
  // each to a worker in turn, which reads its descriptor and serves it.
  io::awaitable<void> qrexec_accept_loop();
  // Frees replaced snapshots once no request holds them, here rather than on a worker.
  void schedule_snapshot_release(std::chrono::milliseconds after);

  core::Config config_;
  std::string config_path_;
  io::ConnectionLimits limits_;
  io::PolicyStore policies_;
  io::ClientSet stopped_;
  io::ClientSet learning_;
  Reloader reloader_;
  std::uint64_t generation_ = 1;
  std::vector<std::string> listening_;  // as bound ("127.0.0.1:8100")
  io::asio::io_context control_io_{1};
  io::DecisionFeed feed_{control_io_};
  io::LocalAddresses local_addresses_;
  io::asio::steady_timer address_timer_{control_io_};
  io::asio::steady_timer release_timer_{control_io_};
  bool release_scheduled_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<io::asio::local::stream_protocol::acceptor> qrexec_;
  std::size_t next_qrexec_worker_ = 0;
  std::unique_ptr<FileWatcher> watcher_;
  std::vector<std::string> watched_;  // what watcher_ watches now
};

}  // namespace egressd::server
