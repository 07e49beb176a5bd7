// A worker's idle origin connections, kept for the next request of the same client to the
// same origin, so that a client that opens a connection per request does not cost a new
// origin connection per request too.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/destination.hpp"
#include "core/ip_address.hpp"
#include "io/asio.hpp"

namespace egressd::io {

// Connections are kept per (client, host, port): one client's requests never travel on a
// connection another client opened, so a confused origin cannot hand one client's response
// to another. A connection is handed out again only if its origin has neither closed it
// nor sent anything since (a byte from an idle origin is never taken as the answer to a
// later request), and only if its address still passes the destination check of the
// request that wants it (a reload may have changed what may be reached). Idle connections
// are closed after `idle`; at most `max_idle` are kept in all and `max_per_origin` for one
// key. One per worker thread: not thread-safe.
class OriginPool {
 public:
  struct Limits {
    std::chrono::steady_clock::duration idle = std::chrono::seconds(30);
    std::size_t max_idle = 512;
    std::size_t max_per_origin = 64;
  };

  OriginPool(const asio::any_io_executor& executor, Limits limits);
  explicit OriginPool(const asio::any_io_executor& executor) : OriginPool(executor, Limits{}) {}
  OriginPool(const OriginPool&) = delete;
  OriginPool& operator=(const OriginPool&) = delete;

  // Keeps `socket` (connected to `peer`, with nothing unread) for `client`'s next request
  // to host:port. Closes it instead when the pool is full.
  void put(const core::IpAddress& client, std::string_view host, std::uint16_t port,
           tcp::socket socket, const tcp::endpoint& peer);

  // A kept connection for `client` to host:port that `destinations` allows, most recently
  // kept first; nullopt when there is none. Closes the kept ones found unusable on the way.
  std::optional<tcp::socket> take(const core::IpAddress& client, std::string_view host,
                                  std::uint16_t port, const core::DestinationRules& destinations,
                                  tcp::endpoint& peer);

  std::size_t size() const { return size_; }
  // Closes every kept connection.
  void clear();

 private:
  struct Entry {
    tcp::socket socket;
    tcp::endpoint peer;
    std::chrono::steady_clock::time_point kept;
  };
  static std::string key(const core::IpAddress& client, std::string_view host, std::uint16_t port);
  void expire();
  void schedule_expiry();

  Limits limits_;
  asio::steady_timer timer_;
  bool timer_armed_ = false;
  std::size_t size_ = 0;
  // Oldest first in each queue.
  std::unordered_map<std::string, std::deque<Entry>> kept_;
};

}  // namespace egressd::io
