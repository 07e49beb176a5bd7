// Process wiring: listeners, worker threads with their own event loops, reload and shutdown.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/policy.hpp"
#include "io/policy_store.hpp"

namespace egressd::server {

// Builds a new snapshot from disk (config and rules as they are now).
using Reloader = std::function<core::SnapshotBuild(std::uint64_t generation)>;

class Server {
 public:
  Server(core::Config config, io::SnapshotPtr initial, Reloader reloader);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens every listen address on every worker (SO_REUSEPORT, so the kernel spreads
  // connections and a connection stays on the worker that accepted it). Refuses an
  // address another process already listens on. Logs "listening address=IP:PORT" once
  // per address, with the real port when 0 was asked for. Returns false and sets
  // `error` when an address cannot be opened.
  bool listen(std::string& error);

  // Serves until SIGINT or SIGTERM; SIGHUP reloads config and rules (a reload with
  // errors is logged with file:line and the running rules stay). Returns the exit code.
  int run();

 private:
  struct Worker;
  void reload();

  core::Config config_;
  io::PolicyStore policies_;
  Reloader reloader_;
  std::uint64_t generation_ = 1;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace egressd::server
