// run_tunnel() between two loopback connections whose far ends the test drives with plain
// blocking sockets: bytes and counts in both directions, half-close, a slow reader, the
// idle deadline, closing from elsewhere and a reset.
#include "io/tunnel.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <random>
#include <string>
#include <thread>

namespace egressd::io {
namespace {

using namespace std::chrono_literals;

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(generator());
  return bytes;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << "send: " << std::strerror(errno);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Writes until done or until the connection fails (it is being closed on purpose).
void write_until_closed(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads until EOF (or an error), `piece` bytes at a time.
std::string read_to_eof(int fd, std::size_t piece = 64 * 1024) {
  std::string data;
  std::string buffer(piece, '\0');
  for (;;) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) return data;
    data.append(buffer.data(), static_cast<std::size_t>(n));
  }
}

// A client, an origin and the tunnel between them. `client_` and `origin_` are egressd's
// ends (Asio sockets); `client_peer_` and `origin_peer_` the far ends, driven by the test.
class TunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    connect_pair(client_, client_peer_);
    connect_pair(origin_, origin_peer_);
  }

  void TearDown() override {
    if (thread_.joinable()) thread_.join();
    if (client_peer_ >= 0) ::close(client_peer_);
    if (origin_peer_ >= 0) ::close(origin_peer_);
  }

  // A loopback connection: `inside` accepted by Asio, `outside` a blocking socket.
  void connect_pair(tcp::socket& inside, int& outside) {
    tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    outside = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(outside, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(acceptor.local_endpoint().port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(outside, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    acceptor.accept(inside);
  }

  void start(std::string early = {}, std::chrono::seconds idle = 60s) {
    asio::co_spawn(
        io_, run_tunnel(client_, origin_, std::move(early), idle),
        [this](std::exception_ptr, TunnelResult result) { done_.set_value(std::move(result)); });
    thread_ = std::thread([this] { io_.run(); });
  }

  TunnelResult result() {
    auto future = done_.get_future();
    if (future.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "the tunnel did not end";
      asio::post(io_, [this] {
        error_code ignored;
        client_.close(ignored);
        origin_.close(ignored);
      });
    }
    return future.get();
  }

  asio::io_context io_;
  tcp::socket client_{io_};
  tcp::socket origin_{io_};
  int client_peer_ = -1;
  int origin_peer_ = -1;
  std::promise<TunnelResult> done_;
  std::thread thread_;
};

TEST_F(TunnelTest, RelaysBulkBothWaysAtOnceAndCountsBytes) {
  const std::string up = random_bytes(3 << 20, 1);
  const std::string down = random_bytes(5 << 20, 2);
  start("early|");
  std::string origin_got;
  std::thread origin([&] {
    std::thread reader([&] { origin_got = read_to_eof(origin_peer_); });
    write_all(origin_peer_, down);
    ::shutdown(origin_peer_, SHUT_WR);
    reader.join();
  });
  std::thread client([&] {
    write_all(client_peer_, up);
    ::shutdown(client_peer_, SHUT_WR);
  });
  const std::string client_got = read_to_eof(client_peer_);
  client.join();
  origin.join();

  EXPECT_TRUE(origin_got == "early|" + up);
  EXPECT_TRUE(client_got == down);
  const auto result = this->result();
  EXPECT_EQ(result.client_to_origin, up.size() + 6);
  EXPECT_EQ(result.origin_to_client, down.size());
  EXPECT_EQ(result.error, "");
  EXPECT_FALSE(result.idle_timeout);
}

TEST_F(TunnelTest, HalfCloseKeepsTheOtherDirectionOpen) {
  start();
  write_all(client_peer_, "question");
  ::shutdown(client_peer_, SHUT_WR);
  // The origin sees the end of the question, and only then answers.
  EXPECT_EQ(read_to_eof(origin_peer_), "question");
  write_all(origin_peer_, "answer after your end");
  ::shutdown(origin_peer_, SHUT_WR);
  EXPECT_EQ(read_to_eof(client_peer_), "answer after your end");
  const auto result = this->result();
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.origin_to_client, 21u);
}

TEST_F(TunnelTest, ASlowReaderGetsEveryByte) {
  // Far more than the socket buffers hold: the relay has to wait for the reader.
  const std::string down = random_bytes(16 << 20, 3);
  start();
  std::thread origin([&] {
    write_all(origin_peer_, down);
    ::shutdown(origin_peer_, SHUT_WR);
  });
  std::this_thread::sleep_for(300ms);
  const std::string got = read_to_eof(client_peer_, 1000);
  origin.join();
  ::shutdown(client_peer_, SHUT_WR);
  EXPECT_EQ(got.size(), down.size());
  EXPECT_TRUE(got == down);
  EXPECT_EQ(this->result().origin_to_client, down.size());
}

TEST_F(TunnelTest, AnIdleTunnelIsClosed) {
  start({}, 1s);
  write_all(client_peer_, "ping");
  char buffer[4];
  ASSERT_EQ(::recv(origin_peer_, buffer, sizeof buffer, MSG_WAITALL), 4);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(read_to_eof(client_peer_), "");
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
  const auto result = this->result();
  EXPECT_TRUE(result.idle_timeout);
  EXPECT_EQ(result.error, "");
}

TEST_F(TunnelTest, ClosingTheSocketsFromElsewhereEndsIt) {
  // What Session::abort() does (egressctl stop, a reload that denies the tunnel).
  start();
  std::thread origin([&] { write_until_closed(origin_peer_, random_bytes(8 << 20, 4)); });
  char buffer[1000];
  ASSERT_GT(::recv(client_peer_, buffer, sizeof buffer, 0), 0);
  asio::post(io_, [this] {
    error_code ignored;
    client_.close(ignored);
    origin_.close(ignored);
  });
  const auto result = this->result();
  ::shutdown(origin_peer_, SHUT_RDWR);  // lets a blocked writer return
  origin.join();
  EXPECT_EQ(result.error, "");
  EXPECT_FALSE(result.idle_timeout);
}

TEST_F(TunnelTest, AResetEndsBothDirectionsWithTheError) {
  start();
  write_all(client_peer_, "hello");
  char buffer[5];
  ASSERT_EQ(::recv(origin_peer_, buffer, sizeof buffer, MSG_WAITALL), 5);
  const linger abortive{1, 0};
  ASSERT_EQ(::setsockopt(origin_peer_, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive), 0);
  ::close(origin_peer_);
  origin_peer_ = -1;
  EXPECT_EQ(read_to_eof(client_peer_), "");
  EXPECT_EQ(this->result().error, "Connection reset by peer");
}

}  // namespace
}  // namespace egressd::io
