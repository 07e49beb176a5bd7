// Per-client bookkeeping of one worker (counts, live connections) and the shared set of
// clients egressd is stopped for.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/ip_address.hpp"

namespace egressd::io {

using SystemTime = std::chrono::system_clock::time_point;

// What the connections of one client have done since egressd started.
struct ClientStats {
  std::size_t active_connections = 0;
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  std::string last_denied_host;           // empty until a request is denied
  std::optional<SystemTime> last_denied;  // when last_denied_host was denied
  std::optional<SystemTime> last_seen;    // last connection or decision

  // Adds `other` (the same client seen by another worker): counts are summed, the later
  // denial and the later sighting win.
  void merge(const ClientStats& other);
};

// A live connection that can be told to end. abort() closes its sockets so that its
// coroutine finishes soon after; it must not deregister itself synchronously.
class Abortable {
 public:
  virtual void abort() = 0;

 protected:
  ~Abortable() = default;
};

// One worker's bookkeeping. Not thread-safe by design: it belongs to one worker and is
// only touched on that worker's thread (other threads post to it), so the data path
// takes no lock. Clients without live connections are forgotten, oldest first, when
// more than `max_idle_clients` of them are known, so a flood of addresses cannot grow
// it without bound.
class ClientActivity {
 public:
  explicit ClientActivity(std::size_t max_idle_clients = 4096)
      : max_idle_clients_(max_idle_clients) {}

  // A connection from `client` started / ended. Every opened connection must be closed
  // exactly once (sessions do it from their destructor).
  void connection_opened(const core::IpAddress& client, Abortable& connection, SystemTime now);
  void connection_closed(const core::IpAddress& client, Abortable& connection);

  // One policy decision for `client` about `host`.
  void record_decision(const core::IpAddress& client, bool allowed, std::string_view host,
                       SystemTime now);

  // Aborts every live connection of `client` (or of every client); returns how many.
  std::size_t abort_client(const core::IpAddress& client);
  std::size_t abort_all();

  // A copy of every known client's stats (active_connections filled in).
  std::unordered_map<core::IpAddress, ClientStats> stats() const;

 private:
  struct Entry {
    ClientStats stats;
    std::unordered_set<Abortable*> connections;
  };
  Entry& entry(const core::IpAddress& client);
  void forget_oldest_idle();

  std::size_t max_idle_clients_;
  std::unordered_map<core::IpAddress, Entry> clients_;
};

// The clients egressd is stopped for, shared by every worker. Readers (each request)
// load an immutable set without a lock; writers (the control socket) build a new set
// under a mutex and publish it.
class StoppedClients {
 public:
  using Set = std::unordered_set<core::IpAddress>;

  StoppedClients() : set_(std::make_shared<const Set>()) {}

  bool contains(const core::IpAddress& client) const { return current()->count(client) > 0; }
  std::shared_ptr<const Set> current() const { return set_.load(std::memory_order_acquire); }

  // Adds (stopped = true) or removes the clients.
  void set(const std::vector<core::IpAddress>& clients, bool stopped);

 private:
  std::mutex writer_;
  std::atomic<std::shared_ptr<const Set>> set_;
};

}  // namespace egressd::io
