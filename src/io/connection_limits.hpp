// Caps on open client connections, per client and for the whole process, shared by every
// worker: a client over its cap is answered and closed while everyone else is served.
// With them, the process-wide counts of requests that tinyproxy mode's statistics show.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "core/ip_address.hpp"

namespace egressd::io {

class ConnectionLimits {
 public:
  enum class Refusal { none, global, client };

  // One accepted connection's claim on the caps; gives it back when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

    Refusal refusal() const { return refusal_; }

   private:
    friend class ConnectionLimits;
    void release();
    ConnectionLimits* limits_ = nullptr;  // set while the slot holds a claim
    core::IpAddress client_;
    Refusal refusal_ = Refusal::none;
  };

  // 0 means no cap.
  ConnectionLimits(std::size_t global, std::size_t per_client)
      : global_cap_(global), client_cap_(per_client) {}

  // Claims a slot for a new connection of `client`. Over a cap the slot claims nothing
  // and says which cap refused it. Thread-safe.
  Slot acquire(const core::IpAddress& client);

  std::size_t open_connections() const { return open_.load(std::memory_order_relaxed); }
  std::size_t global_cap() const { return global_cap_; }
  std::size_t client_cap() const { return client_cap_; }

  // Counted by the sessions in tinyproxy mode only (relaxed: numbers for people, not for
  // decisions).
  std::atomic<std::uint64_t> requests{0};  // requests decided
  std::atomic<std::uint64_t> denied{0};    // of those, refused
  std::atomic<std::uint64_t> refused{0};   // connections over a cap

 private:
  void release(const core::IpAddress& client);

  const std::size_t global_cap_;
  const std::size_t client_cap_;
  std::atomic<std::size_t> open_{0};
  std::mutex mutex_;  // per-client counts: touched once per connection, not per request
  std::unordered_map<core::IpAddress, std::size_t> per_client_;
};

}  // namespace egressd::io
