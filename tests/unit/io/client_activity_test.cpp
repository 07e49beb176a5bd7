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
  bool allowed = true;
  void abort() override { ++aborts; }
  bool allowed_under(const core::PolicySnapshot&) override { return allowed; }
};

TEST(ClientActivity, CountsConnectionsAndDecisions) {
  ClientActivity activity;
  FakeConnection a, b, c;
  activity.connection_opened(ip("10.0.0.1"), a, t0);
  activity.connection_opened(ip("10.0.0.1"), b, t0 + 1s);
  activity.connection_opened(ip("10.0.0.2"), c, t0 + 2s);
  activity.record_decision(ip("10.0.0.1"), true, "a.test", 80, false, t0 + 3s);
  activity.record_decision(ip("10.0.0.1"), false, "bad.test", 80, false, t0 + 4s);
  activity.record_decision(ip("10.0.0.1"), false, "worse.test", 80, false, t0 + 5s);
  activity.record_decision(ip("10.0.0.1"), true, "a.test", 80, false, t0 + 6s);

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
  bool allowed_under(const core::PolicySnapshot&) override { return true; }
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
    activity.record_decision(address, false, "x.test", 80, false, t0 + std::chrono::seconds(i));
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

TEST(ClientSet, StopAndStart) {
  ClientSet stopped;
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

TEST(ClientSet, ReadersWhileWritersPublish) {
  ClientSet stopped;
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

TEST(ClientActivity, DeniedRingKeepsTheLastRefusalsPerWorker) {
  ClientActivity activity(4096, 4);
  activity.record_decision(ip("10.0.0.1"), false, "a.test", 80, false, t0);
  activity.record_decision(ip("10.0.0.2"), false, "other.test", 443, true, t0 + 1s);
  activity.record_decision(ip("10.0.0.1"), true, "ok.test", 80, false, t0 + 2s);
  activity.record_decision(ip("10.0.0.1"), false, "b.test", 443, true, t0 + 3s);
  auto denied = activity.denied(ip("10.0.0.1"));
  ASSERT_EQ(denied.size(), 2u);
  EXPECT_EQ(denied[0].host, "a.test");
  EXPECT_EQ(denied[1].host, "b.test");
  EXPECT_EQ(denied[1].port, 443);
  EXPECT_TRUE(denied[1].is_connect);
  EXPECT_EQ(activity.denied(ip("10.0.0.1"), t0 + 1s).size(), 1u);
  // Three more: the ring holds four, so a.test and other.test are overwritten.
  for (int i = 0; i < 3; ++i) {
    activity.record_decision(ip("10.0.0.1"), false, "c" + std::to_string(i) + ".test", 80,
                             false, t0 + std::chrono::seconds(10 + i));
  }
  denied = activity.denied(ip("10.0.0.1"));
  ASSERT_EQ(denied.size(), 4u);
  EXPECT_EQ(denied[0].host, "b.test");
  EXPECT_EQ(denied[3].host, "c2.test");
  EXPECT_TRUE(activity.denied(ip("10.0.0.2")).empty());
}

TEST(ClientActivity, LearnedRequestsAreCountedAndBounded) {
  ClientActivity activity;
  activity.record_learned(ip("10.0.0.1"), "a.test", 443, true);
  activity.record_learned(ip("10.0.0.1"), "a.test", 443, true);
  activity.record_learned(ip("10.0.0.1"), "a.test", 80, false);
  auto learned = activity.learned(ip("10.0.0.1"));
  ASSERT_EQ(learned.size(), 2u);
  std::uint64_t total = 0;
  for (const auto& l : learned) total += l.count;
  EXPECT_EQ(total, 3u);
  for (std::size_t i = 0; i < ClientActivity::kLearnedPerClient + 5; ++i) {
    activity.record_learned(ip("10.0.0.2"), "h" + std::to_string(i) + ".test", 443, true);
  }
  EXPECT_EQ(activity.learned(ip("10.0.0.2")).size(), ClientActivity::kLearnedPerClient);
  EXPECT_EQ(activity.learned_dropped(ip("10.0.0.2")), 5u);
  activity.clear_learned(ip("10.0.0.2"));
  EXPECT_TRUE(activity.learned(ip("10.0.0.2")).empty());
}

TEST(ClientActivity, AbortNotAllowedClosesOnlyThoseTheSnapshotDenies) {
  ClientActivity activity;
  FakeConnection keep, end;
  end.allowed = false;
  activity.connection_opened(ip("10.0.0.1"), keep, t0);
  activity.connection_opened(ip("10.0.0.1"), end, t0);
  const core::PolicySnapshot snapshot;
  EXPECT_EQ(activity.abort_not_allowed(snapshot), 1u);
  EXPECT_EQ(keep.aborts, 0);
  EXPECT_EQ(end.aborts, 1);
}

}  // namespace
}  // namespace egressd::io
