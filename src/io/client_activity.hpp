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
#include "core/policy.hpp"

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
  // Whether what the connection is doing now (an open CONNECT tunnel) is still allowed
  // under `snapshot`; false makes a re-check close it. Between requests, true: each
  // request is decided on its own.
  virtual bool allowed_under(const core::PolicySnapshot& snapshot) = 0;

 protected:
  ~Abortable() = default;
};

// One refused request, kept in a worker's bounded ring for `egressctl blocked`.
struct DeniedRequest {
  core::IpAddress client;
  std::string host;
  std::uint16_t port = 0;
  bool is_connect = false;
  SystemTime time;
};

// A request let through in learning mode, counted by (host, port, kind).
struct LearnedRequest {
  std::string host;
  std::uint16_t port = 0;
  bool is_connect = false;
  std::uint64_t count = 0;
};

// One worker's bookkeeping. Not thread-safe by design: it belongs to one worker and is
// only touched on that worker's thread (other threads post to it), so the data path
// takes no lock. Clients without live connections are forgotten, oldest first, when
// more than `max_idle_clients` of them are known, so a flood of addresses cannot grow
// it without bound.
class ClientActivity {
 public:
  static constexpr std::size_t kDeniedRing = 16384;
  static constexpr std::size_t kLearnedPerClient = 4096;

  explicit ClientActivity(std::size_t max_idle_clients = 4096,
                          std::size_t denied_ring = kDeniedRing)
      : max_idle_clients_(max_idle_clients), denied_capacity_(denied_ring) {}

  // A connection from `client` started / ended. Every opened connection must be closed
  // exactly once (sessions do it from their destructor).
  void connection_opened(const core::IpAddress& client, Abortable& connection, SystemTime now);
  void connection_closed(const core::IpAddress& client, Abortable& connection);

  // One policy decision for `client` about `host`. A denial also goes into the ring of
  // the last `denied_ring` refusals of this worker (the oldest is overwritten).
  void record_decision(const core::IpAddress& client, bool allowed, std::string_view host,
                       std::uint16_t port, bool is_connect, SystemTime now);

  // The refusals of `client` still in the ring, oldest first; with `since`, only those
  // at or after it.
  std::vector<DeniedRequest> denied(const core::IpAddress& client,
                                    std::optional<SystemTime> since = std::nullopt) const;

  // A request of `client` allowed by learning mode. At most kLearnedPerClient distinct
  // (host, port, kind) are kept per client; more are counted in learned_dropped().
  void record_learned(const core::IpAddress& client, std::string_view host,
                      std::uint16_t port, bool is_connect);
  std::vector<LearnedRequest> learned(const core::IpAddress& client) const;
  std::uint64_t learned_dropped(const core::IpAddress& client) const;
  void clear_learned(const core::IpAddress& client);

  // Aborts every live connection for which allowed_under(snapshot) is false; returns how
  // many.
  std::size_t abort_not_allowed(const core::PolicySnapshot& snapshot);

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

  struct Learned {
    std::unordered_map<std::string, LearnedRequest> requests;  // by "kind host port"
    std::uint64_t dropped = 0;
  };

  std::size_t max_idle_clients_;
  std::unordered_map<core::IpAddress, Entry> clients_;
  std::size_t denied_capacity_;
  std::vector<DeniedRequest> denied_;  // a ring once it is full
  std::size_t denied_next_ = 0;        // where the next refusal goes once full
  // Only clients that have been in learning mode; kept after it ends, for suggest.
  std::unordered_map<core::IpAddress, Learned> learned_;
};

// A set of clients shared by every worker: those egressd is stopped for, those in
// learning mode. Readers (each request) load an immutable set without a lock; writers
// (the control socket) build a new set under a mutex and publish it.
class ClientSet {
 public:
  using Set = std::unordered_set<core::IpAddress>;

  ClientSet() : set_(std::make_shared<const Set>()) {}

  bool contains(const core::IpAddress& client) const { return current()->count(client) > 0; }
  std::shared_ptr<const Set> current() const { return set_.load(std::memory_order_acquire); }

  // Adds (in = true) or removes the clients.
  void set(const std::vector<core::IpAddress>& clients, bool in);

 private:
  std::mutex writer_;
  std::atomic<std::shared_ptr<const Set>> set_;
};

}  // namespace egressd::io
