// Tests for the cache of name lookups (core/dns_cache).
#include "core/dns_cache.hpp"

#include <gtest/gtest.h>

namespace egressd::core {
namespace {

using namespace std::chrono_literals;

const IpAddress kA = IpAddress::v4({192, 0, 2, 1});
const IpAddress kB = IpAddress::v4({192, 0, 2, 2});

TEST(DnsCache, KeepsAnAnswerForItsTtl) {
  DnsCache cache(60s, 16);
  const DnsCache::Time t0{1000s};
  cache.insert("example.org", {kA, kB}, 10s, t0);
  auto found = cache.find("example.org", t0 + 9s);
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, (std::vector<IpAddress>{kA, kB}));
  EXPECT_FALSE(cache.find("example.org", t0 + 10s));
  EXPECT_EQ(cache.size(), 0u);  // an expired name is dropped when asked for
  EXPECT_FALSE(cache.find("other.org", t0));
}

TEST(DnsCache, NeverLongerThanItsCap) {
  DnsCache cache(5s, 16);
  const DnsCache::Time t0{1000s};
  cache.insert("example.org", {kA}, 3600s, t0);
  EXPECT_TRUE(cache.find("example.org", t0 + 4s));
  EXPECT_FALSE(cache.find("example.org", t0 + 5s));
}

TEST(DnsCache, KeepsNothingWithTtlOrCapZero) {
  const DnsCache::Time t0{1000s};
  DnsCache off(0s, 16);
  off.insert("example.org", {kA}, 60s, t0);
  EXPECT_EQ(off.size(), 0u);
  DnsCache on(60s, 16);
  on.insert("example.org", {kA}, 0s, t0);
  on.insert("empty.org", {}, 60s, t0);
  EXPECT_EQ(on.size(), 0u);
}

TEST(DnsCache, ANewAnswerReplacesTheOld) {
  DnsCache cache(60s, 16);
  const DnsCache::Time t0{1000s};
  cache.insert("example.org", {kA}, 60s, t0);
  cache.insert("example.org", {kB}, 5s, t0 + 1s);
  auto found = cache.find("example.org", t0 + 2s);
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, std::vector<IpAddress>{kB});
  EXPECT_FALSE(cache.find("example.org", t0 + 6s));
}

TEST(DnsCache, StaysWithinItsCapacity) {
  DnsCache cache(60s, 3);
  const DnsCache::Time t0{1000s};
  cache.insert("a.org", {kA}, 1s, t0);
  cache.insert("b.org", {kA}, 60s, t0);
  cache.insert("c.org", {kA}, 60s, t0);
  // Full: the expired one makes room.
  cache.insert("d.org", {kA}, 60s, t0 + 2s);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_TRUE(cache.find("b.org", t0 + 2s));
  EXPECT_TRUE(cache.find("d.org", t0 + 2s));
  // Full with nothing expired: everything goes, the new name stays.
  cache.insert("e.org", {kA}, 60s, t0 + 3s);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.find("e.org", t0 + 3s));
  // Replacing a kept name needs no room.
  cache.insert("e.org", {kB}, 60s, t0 + 4s);
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace egressd::core
