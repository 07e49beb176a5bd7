// The currently published policy snapshot, read by every worker and replaced by reloads.
#pragma once

#include <atomic>
#include <memory>

#include "core/policy.hpp"

namespace egressd::io {

using SnapshotPtr = std::shared_ptr<const core::PolicySnapshot>;

// Publishing swaps the pointer atomically: a request that loaded a snapshot keeps it
// (and everything it points into) alive until it is done, whatever is published later.
class PolicyStore {
 public:
  explicit PolicyStore(SnapshotPtr initial) : current_(std::move(initial)) {}

  SnapshotPtr current() const { return current_.load(std::memory_order_acquire); }
  void publish(SnapshotPtr snapshot) { current_.store(std::move(snapshot), std::memory_order_release); }

 private:
  std::atomic<SnapshotPtr> current_;
};

}  // namespace egressd::io
