// Tests for the worker's pool of body chunks (io/chunk_pool).
#include "io/chunk_pool.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace egressd::io {
namespace {

TEST(ChunkPool, AReturnedChunkIsHandedOutAgain) {
  ChunkPool pool;
  char* first = nullptr;
  {
    auto lease = pool.take();
    first = lease.data();
    EXPECT_EQ(pool.free_chunks(), 0u);
  }
  EXPECT_EQ(pool.free_chunks(), 1u);
  auto again = pool.take();
  EXPECT_EQ(again.data(), first);
  EXPECT_EQ(pool.free_chunks(), 0u);
}

TEST(ChunkPool, LeasesAtTheSameTimeGetDifferentChunks) {
  ChunkPool pool;
  auto a = pool.take();
  auto b = pool.take();
  EXPECT_NE(a.data(), b.data());
  EXPECT_EQ(ChunkPool::Lease::size(), 64u * 1024);
}

TEST(ChunkPool, KeepsAtMostItsLimitOfFreeChunks) {
  ChunkPool pool(2);
  {
    std::vector<ChunkPool::Lease> leases;
    for (int i = 0; i < 5; ++i) leases.push_back(pool.take());
  }
  EXPECT_EQ(pool.free_chunks(), 2u);
}

}  // namespace
}  // namespace egressd::io
