// A small cache of name lookups, honouring the answers' TTL up to a cap. Pure: the caller
// passes the time.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/ip_address.hpp"

namespace egressd::core {

// Names with the addresses they resolved to, each until min(answer's TTL, max_ttl) has
// passed. Only successful lookups are kept: a failure is asked again next time. With
// max_ttl 0 (or an answer's TTL 0) nothing is kept. When `capacity` names are kept, an
// insert first drops the expired ones and, if none has expired, all of them (a flood of
// distinct names costs lookups, never unbounded memory). Not thread-safe: one per worker.
//
// What the cache returns is still only a lookup: every address is checked against the
// destination rules again before each connect, as a fresh answer would be.
class DnsCache {
 public:
  // A point in time, as the time since any fixed epoch (the caller's clock).
  using Time = std::chrono::nanoseconds;

  DnsCache(std::chrono::seconds max_ttl, std::size_t capacity)
      : max_ttl_(max_ttl), capacity_(capacity) {}

  // The addresses of `name`, if kept and not expired at `now`.
  std::optional<std::vector<IpAddress>> find(const std::string& name, Time now);

  // Keeps `addresses` (non-empty) for `name`, answered with `ttl`, from `now`.
  void insert(std::string_view name, std::vector<IpAddress> addresses, std::chrono::seconds ttl,
              Time now);

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::vector<IpAddress> addresses;
    Time expires;
  };
  std::chrono::seconds max_ttl_;
  std::size_t capacity_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace egressd::core
