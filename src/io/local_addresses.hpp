// The addresses of this host's interfaces, for the destination check: a client must not
// reach the proxy host itself through one of its own addresses.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/ip_address.hpp"

namespace egressd::io {

// Every address of every interface (getifaddrs), IPv4-mapped forms unmapped. On failure
// returns what it has and sets `error`.
std::vector<core::IpAddress> read_local_addresses(std::string& error);

// The latest list, shared by every worker: read without a lock, replaced by the control
// thread (at start, on reload and periodically, since interfaces come and go).
class LocalAddresses {
 public:
  using List = std::vector<core::IpAddress>;

  LocalAddresses() : list_(std::make_shared<const List>()) {}
  std::shared_ptr<const List> current() const { return list_.load(std::memory_order_acquire); }
  void publish(List list) {
    list_.store(std::make_shared<const List>(std::move(list)), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const List>> list_;
};

}  // namespace egressd::io
