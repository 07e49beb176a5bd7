// Tests for the published policy snapshot (io/policy_store): a replaced snapshot is freed
// by the publishing thread once no request holds it, never by the request that let go.
#include "io/policy_store.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace egressd::io {
namespace {

// A snapshot that records the thread that freed it.
SnapshotPtr snapshot(std::thread::id* freed_by) {
  return SnapshotPtr(new core::PolicySnapshot(), [freed_by](const core::PolicySnapshot* s) {
    *freed_by = std::this_thread::get_id();
    delete s;
  });
}

TEST(PolicyStore, AReplacedSnapshotNobodyHoldsIsFreedAtOnce) {
  std::thread::id first_freed;
  std::thread::id second_freed;
  PolicyStore store(snapshot(&first_freed));
  store.publish(snapshot(&second_freed));
  EXPECT_EQ(first_freed, std::this_thread::get_id());
  EXPECT_EQ(store.retired(), 0u);
}

TEST(PolicyStore, AHeldSnapshotIsFreedByThePublisherNotByItsLastHolder) {
  std::thread::id first_freed;
  std::thread::id second_freed;
  PolicyStore store(snapshot(&first_freed));
  std::thread::id worker_id;
  SnapshotPtr held = store.current();
  store.publish(snapshot(&second_freed));
  EXPECT_EQ(store.retired(), 1u);
  EXPECT_EQ(store.current().get() == held.get(), false);
  std::thread worker([&] {
    worker_id = std::this_thread::get_id();
    held.reset();  // the request is done with it
  });
  worker.join();
  EXPECT_EQ(first_freed, std::thread::id());  // not freed by the worker
  store.release_retired();
  EXPECT_EQ(first_freed, std::this_thread::get_id());
  EXPECT_NE(first_freed, worker_id);
  EXPECT_EQ(store.retired(), 0u);
}

}  // namespace
}  // namespace egressd::io
