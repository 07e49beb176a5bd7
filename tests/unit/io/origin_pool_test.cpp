// Tests for the worker's idle origin connections (io/origin_pool), with real loopback
// sockets: a listener stands in for the origin.
#include "io/origin_pool.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "core/network.hpp"
#include "io/upstream.hpp"

namespace egressd::io {
namespace {

using namespace std::chrono_literals;

const core::IpAddress kAlice = core::IpAddress::v4({127, 0, 0, 2});
const core::IpAddress kBob = core::IpAddress::v4({127, 0, 0, 3});

// Loopback allowed, as the integration tests' config does.
core::DestinationRules loopback_allowed() {
  core::DestinationRules rules;
  rules.allowed.push_back(*core::parse_network("127.0.0.0/8"));
  return rules;
}

class OriginPoolTest : public ::testing::Test {
 protected:
  OriginPoolTest() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}

  // A connected client socket; its accepted end is kept in `accepted_`.
  tcp::socket connect() {
    tcp::socket socket(io_);
    socket.connect(acceptor_.local_endpoint());
    accepted_.push_back(acceptor_.accept());
    return socket;
  }
  tcp::endpoint origin() const { return acceptor_.local_endpoint(); }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::vector<tcp::socket> accepted_;
};

TEST_F(OriginPoolTest, AKeptConnectionGoesBackToItsClientForTheSameOrigin) {
  OriginPool pool(io_.get_executor());
  auto socket = connect();
  const auto local = socket.local_endpoint();
  pool.put(kAlice, "allowed.test", 80, std::move(socket), origin());
  EXPECT_EQ(pool.size(), 1u);
  tcp::endpoint peer;
  EXPECT_FALSE(pool.take(kBob, "allowed.test", 80, loopback_allowed(), peer));
  EXPECT_FALSE(pool.take(kAlice, "other.test", 80, loopback_allowed(), peer));
  EXPECT_FALSE(pool.take(kAlice, "allowed.test", 8080, loopback_allowed(), peer));
  auto again = pool.take(kAlice, "allowed.test", 80, loopback_allowed(), peer);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->local_endpoint(), local);
  EXPECT_EQ(peer, origin());
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_FALSE(pool.take(kAlice, "allowed.test", 80, loopback_allowed(), peer));
}

TEST_F(OriginPoolTest, TheMostRecentlyKeptComesFirst) {
  OriginPool pool(io_.get_executor());
  auto a = connect();
  auto b = connect();
  const auto b_local = b.local_endpoint();
  pool.put(kAlice, "allowed.test", 80, std::move(a), origin());
  pool.put(kAlice, "allowed.test", 80, std::move(b), origin());
  tcp::endpoint peer;
  auto first = pool.take(kAlice, "allowed.test", 80, loopback_allowed(), peer);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->local_endpoint(), b_local);
  EXPECT_EQ(pool.size(), 1u);
}

TEST_F(OriginPoolTest, AConnectionTheOriginClosedOrSpokeOnIsDropped) {
  OriginPool pool(io_.get_executor());
  pool.put(kAlice, "allowed.test", 80, connect(), origin());
  accepted_.back().close();  // the origin closes: FIN
  pool.put(kBob, "allowed.test", 80, connect(), origin());
  asio::write(accepted_.back(), asio::buffer("HTTP/1.1 200 OK\r\n", 17));  // unasked
  std::this_thread::sleep_for(50ms);
  tcp::endpoint peer;
  EXPECT_FALSE(pool.take(kAlice, "allowed.test", 80, loopback_allowed(), peer));
  EXPECT_FALSE(pool.take(kBob, "allowed.test", 80, loopback_allowed(), peer));
  EXPECT_EQ(pool.size(), 0u);
}

TEST_F(OriginPoolTest, AnAddressTheRequestMayNotReachIsNotHandedOut) {
  OriginPool pool(io_.get_executor());
  pool.put(kAlice, "allowed.test", 80, connect(), origin());
  tcp::endpoint peer;
  EXPECT_FALSE(pool.take(kAlice, "allowed.test", 80, core::DestinationRules{}, peer));
  EXPECT_EQ(pool.size(), 0u);  // and it is closed, not kept for later
}

TEST_F(OriginPoolTest, KeepsAtMostItsLimits) {
  OriginPool pool(io_.get_executor(), {30s, 3, 2});
  pool.put(kAlice, "allowed.test", 80, connect(), origin());
  pool.put(kAlice, "allowed.test", 80, connect(), origin());
  pool.put(kAlice, "allowed.test", 80, connect(), origin());  // over max_per_origin
  EXPECT_EQ(pool.size(), 2u);
  pool.put(kBob, "allowed.test", 80, connect(), origin());
  pool.put(kBob, "allowed.test", 80, connect(), origin());  // over max_idle
  EXPECT_EQ(pool.size(), 3u);
  pool.clear();
  EXPECT_EQ(pool.size(), 0u);
}

TEST_F(OriginPoolTest, IdleConnectionsAreClosedAfterTheIdleTime) {
  OriginPool pool(io_.get_executor(), {100ms, 16, 16});
  pool.put(kAlice, "allowed.test", 80, connect(), origin());
  io_.run_for(400ms);  // the expiry timer runs every 50 ms
  EXPECT_EQ(pool.size(), 0u);
  // The origin sees the close.
  char byte = 0;
  error_code ec;
  accepted_.back().read_some(asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(OriginPoolTest, AnIdleTimeOfZeroKeepsNothing) {
  OriginPool pool(io_.get_executor(), {0s, 16, 16});
  pool.put(kAlice, "allowed.test", 80, connect(), origin());
  EXPECT_EQ(pool.size(), 0u);
}

}  // namespace
}  // namespace egressd::io
