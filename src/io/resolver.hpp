// Asynchronous DNS for one worker: c-ares driven by the worker's io_context, never blocking it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/dns_cache.hpp"
#include "core/ip_address.hpp"
#include "io/asio.hpp"

namespace egressd::io {

struct ResolveResult {
  enum class Status {
    ok,         // addresses is non-empty
    not_found,  // NXDOMAIN or no A/AAAA records
    timeout,    // no answer within the resolver's timeout
    failure,    // any other error (servers unreachable, refused, malformed answers...)
  };
  Status status = Status::failure;
  std::vector<core::IpAddress> addresses;  // IPv4 first, then IPv6, without duplicates;
                                           // v4-mapped IPv6 answers come back as IPv4
  std::string error;                       // human-readable detail when status != ok
  std::chrono::seconds ttl{0};             // the smallest TTL of the answers (ok only)
};

// One resolver per worker thread; all of its methods must be called on that worker's
// io_context thread. Names are looked up exactly as given (no search domains, no
// ndots games: the host that was checked is the host that is resolved), in /etc/hosts
// first and then with the configured servers (or those of /etc/resolv.conf when
// `servers` is empty). Answers are kept for their TTL, at most `cache_max_ttl`
// (core::DnsCache; 0 keeps nothing).
class Resolver {
 public:
  Resolver(asio::io_context& io, const std::vector<core::Endpoint>& servers,
           std::chrono::seconds timeout,
           std::chrono::seconds cache_max_ttl = std::chrono::seconds(0));
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Resolves A and AAAA records of `name` (a normalised DNS name, not an IP literal).
  // Completes with status timeout after the configured timeout at the latest.
  // Completion is always posted to the caller's executor, never inline. Destroying the
  // Resolver completes every pending resolve() with status failure; the io_context must
  // still be run for those completions to be delivered.
  awaitable<ResolveResult> resolve(std::string name);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<core::DnsCache> cache_;
};

}  // namespace egressd::io
