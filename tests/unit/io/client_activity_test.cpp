// Tests for per-worker client bookkeeping and the stopped-clients set (io/client_activity).
#include "io/client_activity.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace egressd::io {
namespace {

using namespace std::chrono_literals;

core::IpAddress ip(std::string_view text) {
  return core::IpAddress::parse(text).value();
}

const SystemTime t0 = SystemTime{} + 1000h;

// A connection that counts how often it was aborted and, like a session, deregisters
// only later (here: by the test).
struct FakeConnection final : Abortable {
  int aborts = 0;
  void abort() override { ++aborts; }
};

TEST(ClientActivity, CountsConnectionsAndDecisions) {
  ClientActivity activity;
  FakeConnection a, b, c;
  activity.connection_opened(ip("10.0.0.1"), a, t0);
  activity.connection_opened(ip("10.0.0.1"), b, t0 + 1s);
  activity.connection_opened(ip("10.0.0.2"), c, t0 + 2s);
  activity.record_decision(ip("10.0.0.1"), true, "a.test", t0 + 3s);
  activity.record_decision(ip("10.0.0.1"), false, "bad.test", t0 + 4s);
  activity.record_decision(ip("10.0.0.1"), false, "worse.test", t0 + 5s);
  activity.record_decision(ip("10.0.0.1"), true, "a.test", t0 + 6s);

  auto stats = activity.stats();
  ASSERT_EQ(stats.size(), 2u);
  const ClientStats& one = stats.at(ip("10.0.0.1"));
  EXPECT_EQ(one.active_connections, 2u);
  EXPECT_EQ(one.allowed, 2u);
  EXPECT_EQ(one.denied, 2u);
  EXPECT_EQ(one.last_denied_host, "worse.test");
  EXPECT_EQ(one.last_denied, t0 + 5s);
  EXPECT_EQ(one.last_seen, t0 + 6s);
  const ClientStats& two = stats.at(ip("10.0.0.2"));
  EXPECT_EQ(two.active_connections, 1u);
  EXPECT_EQ(two.allowed + two.denied, 0u);
  EXPECT_TRUE(two.last_denied_host.empty());
  EXPECT_EQ(two.last_seen, t0 + 2s);

  activity.connection_closed(ip("10.0.0.1"), a);
  activity.connection_closed(ip("10.0.0.1"), b);
  stats = activity.stats();
  EXPECT_EQ(stats.at(ip("10.0.0.1")).active_connections, 0u);
  EXPECT_EQ(stats.at(ip("10.0.0.1")).denied, 2u) << "counts outlive connections";
}

TEST(ClientActivity, AbortsOneClientOrAll) {
  ClientActivity activity;
  FakeConnection a, b, c;
  activity.connection_opened(ip("10.0.0.1"), a, t0);
  activity.connection_opened(ip("10.0.0.1"), b, t0);
  activity.connection_opened(ip("fd00::1"), c, t0);

  EXPECT_EQ(activity.abort_client(ip("10.0.0.1")), 2u);
  EXPECT_EQ(a.aborts, 1);
  EXPECT_EQ(b.aborts, 1);
  EXPECT_EQ(c.aborts, 0);
  EXPECT_EQ(activity.abort_client(ip("10.0.0.9")), 0u);

  // Until a connection deregisters it is still live and is aborted again.
  EXPECT_EQ(activity.abort_all(), 3u);
  EXPECT_EQ(c.aborts, 1);
  activity.connection_closed(ip("10.0.0.1"), a);
  activity.connection_closed(ip("10.0.0.1"), b);
  activity.connection_closed(ip("fd00::1"), c);
  EXPECT_EQ(activity.abort_all(), 0u);
}

// abort() may deregister at once; walking the registry must survive that.
struct SelfRemovingConnection final : Abortable {
  ClientActivity* activity = nullptr;
  core::IpAddress address;
  void abort() override { activity->connection_closed(address, *this); }
};

TEST(ClientActivity, AbortThatDeregistersAtOnce) {
  ClientActivity activity;
  std::vector<SelfRemovingConnection> connections(5);
  for (auto& c : connections) {
    c.activity = &activity;
    c.address = ip("10.0.0.1");
    activity.connection_opened(c.address, c, t0);
  }
  EXPECT_EQ(activity.abort_client(ip("10.0.0.1")), 5u);
  EXPECT_EQ(activity.stats().at(ip("10.0.0.1")).active_connections, 0u);
}

TEST(ClientActivity, ForgetsTheOldestIdleClientsBeyondTheBound) {
  ClientActivity activity(3);
  FakeConnection live;
  activity.connection_opened(ip("10.0.0.100"), live, t0);  // never forgotten: connected
  for (int i = 1; i <= 5; ++i) {
    const auto address = ip("10.0.0." + std::to_string(i));
    activity.record_decision(address, false, "x.test", t0 + std::chrono::seconds(i));
  }
  const auto stats = activity.stats();
  EXPECT_EQ(stats.count(ip("10.0.0.100")), 1u);
  EXPECT_EQ(stats.count(ip("10.0.0.1")), 0u);
  EXPECT_EQ(stats.count(ip("10.0.0.2")), 0u);
  EXPECT_EQ(stats.count(ip("10.0.0.5")), 1u);
  EXPECT_LE(stats.size(), 4u);
}

TEST(ClientStats, MergeSumsAndKeepsTheLatest) {
  ClientStats a;
  a.active_connections = 1;
  a.allowed = 2;
  a.denied = 1;
  a.last_denied_host = "old.test";
  a.last_denied = t0;
  a.last_seen = t0 + 10s;
  ClientStats b;
  b.active_connections = 2;
  b.denied = 3;
  b.last_denied_host = "new.test";
  b.last_denied = t0 + 5s;
  b.last_seen = t0 + 5s;
  a.merge(b);
  EXPECT_EQ(a.active_connections, 3u);
  EXPECT_EQ(a.allowed, 2u);
  EXPECT_EQ(a.denied, 4u);
  EXPECT_EQ(a.last_denied_host, "new.test");
  EXPECT_EQ(a.last_seen, t0 + 10s);
  a.merge(ClientStats{});
  EXPECT_EQ(a.last_denied_host, "new.test");
}

TEST(StoppedClients, StopAndStart) {
  StoppedClients stopped;
  EXPECT_FALSE(stopped.contains(ip("10.0.0.1")));
  const auto before = stopped.current();
  stopped.set({ip("10.0.0.1"), ip("fd00::1")}, true);
  EXPECT_TRUE(stopped.contains(ip("10.0.0.1")));
  EXPECT_TRUE(stopped.contains(ip("fd00::1")));
  EXPECT_TRUE(before->empty()) << "a published set never changes";
  stopped.set({ip("10.0.0.1")}, true);  // again: no error
  stopped.set({ip("10.0.0.1"), ip("10.0.0.7")}, false);
  EXPECT_FALSE(stopped.contains(ip("10.0.0.1")));
  EXPECT_TRUE(stopped.contains(ip("fd00::1")));
  EXPECT_EQ(stopped.current()->size(), 1u);
}

TEST(StoppedClients, ReadersWhileWritersPublish) {
  StoppedClients stopped;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      const auto set = stopped.current();
      // Each published set is complete: both addresses or neither.
      EXPECT_EQ(set->count(ip("10.0.0.1")), set->count(ip("10.0.0.2")));
    }
  });
  for (int i = 0; i < 2000; ++i) stopped.set({ip("10.0.0.1"), ip("10.0.0.2")}, i % 2 == 0);
  done = true;
  reader.join();
}

}  // namespace
}  // namespace egressd::io
