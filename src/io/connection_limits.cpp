// Connection caps: an atomic total and per-client counts under a mutex.
#include "io/connection_limits.hpp"

#include <utility>

namespace egressd::io {

ConnectionLimits::Slot::Slot(Slot&& other) noexcept
    : limits_(std::exchange(other.limits_, nullptr)),
      client_(other.client_),
      refusal_(other.refusal_) {}

ConnectionLimits::Slot& ConnectionLimits::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    limits_ = std::exchange(other.limits_, nullptr);
    client_ = other.client_;
    refusal_ = other.refusal_;
  }
  return *this;
}

ConnectionLimits::Slot::~Slot() { release(); }

void ConnectionLimits::Slot::release() {
  if (limits_ != nullptr) limits_->release(client_);
  limits_ = nullptr;
}

ConnectionLimits::Slot ConnectionLimits::acquire(const core::IpAddress& client) {
  Slot slot;
  slot.client_ = client;
  if (global_cap_ != 0 && open_.fetch_add(1, std::memory_order_relaxed) >= global_cap_) {
    open_.fetch_sub(1, std::memory_order_relaxed);
    slot.refusal_ = Refusal::global;
    return slot;
  }
  if (global_cap_ == 0) open_.fetch_add(1, std::memory_order_relaxed);
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::size_t& count = per_client_[client];
    if (client_cap_ != 0 && count >= client_cap_) {
      if (count == 0) per_client_.erase(client);
      open_.fetch_sub(1, std::memory_order_relaxed);
      slot.refusal_ = Refusal::client;
      return slot;
    }
    ++count;
  }
  slot.limits_ = this;
  return slot;
}

void ConnectionLimits::release(const core::IpAddress& client) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = per_client_.find(client);
    if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  }
  open_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace egressd::io
