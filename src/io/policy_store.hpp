// The currently published policy snapshot, read by every worker and replaced by reloads.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "core/policy.hpp"

namespace egressd::io {

using SnapshotPtr = std::shared_ptr<const core::PolicySnapshot>;

// Publishing swaps the pointer atomically: a request that loaded a snapshot keeps it
// (and everything it points into) alive until it is done, whatever is published later.
//
// A replaced snapshot is kept here until no request holds it, and then freed by the
// publishing thread (release_retired()), never by a worker: freeing the rules of a large
// client takes tens of milliseconds, which a worker would spend not serving anyone.
// publish() and release_retired() are for the one publishing thread; current() is for
// any thread.
class PolicyStore {
 public:
  explicit PolicyStore(SnapshotPtr initial) : current_(std::move(initial)) {}

  SnapshotPtr current() const { return current_.load(std::memory_order_acquire); }

  void publish(SnapshotPtr snapshot) {
    retired_.push_back(current_.exchange(std::move(snapshot), std::memory_order_acq_rel));
    release_retired();
  }

  // Frees the replaced snapshots that no request holds any more. A retired snapshot can
  // gain no new holder (current() never returns it), so a count of one stays one.
  void release_retired() {
    std::erase_if(retired_, [](const SnapshotPtr& s) { return s.use_count() == 1; });
  }
  std::size_t retired() const { return retired_.size(); }

 private:
  std::atomic<SnapshotPtr> current_;
  std::vector<SnapshotPtr> retired_;
};

}  // namespace egressd::io
