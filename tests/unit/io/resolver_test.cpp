// Resolver against /etc/hosts and tiny in-process DNS servers on loopback.
#include "io/resolver.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace egressd::io {

// Readable statuses in failure messages (found by GoogleTest through ADL).
void PrintTo(ResolveResult::Status status, std::ostream* out) {
  constexpr const char* names[] = {"ok", "not_found", "timeout", "failure"};
  *out << names[static_cast<int>(status)];
}

namespace {

using core::IpAddress;
using udp = asio::ip::udp;
using Status = ResolveResult::Status;
using namespace std::chrono_literals;

constexpr std::uint16_t type_a = 1;
constexpr std::uint16_t type_aaaa = 28;

struct Records {
  std::vector<IpAddress> a;            // answered to A queries, in this order (duplicates kept)
  std::vector<IpAddress> aaaa;         // answered to AAAA queries
  std::chrono::milliseconds delay{0};  // before each answer is sent
  std::uint8_t ttl = 60;               // of every record, in seconds
};

// A UDP DNS server for A/AAAA questions. Names in `zone` get their records (an empty
// answer when there are none of the asked type); other names get NXDOMAIN. A silent
// server counts the queries it receives and never answers.
class FakeDnsServer {
 public:
  FakeDnsServer(asio::io_context& io, std::map<std::string, Records> zone, bool silent = false,
                const udp::endpoint& bind_to = {asio::ip::make_address("127.0.0.1"), 0})
      : socket_(io, bind_to), zone_(std::move(zone)), silent_(silent) {
    // Bursts of queries arrive before the server gets to read; the default buffer drops
    // some of them (best effort: the kernel may cap the size).
    error_code ignored;
    socket_.set_option(udp::socket::receive_buffer_size(1 << 20), ignored);
    receive();
  }

  core::Endpoint endpoint() const {
    const udp::endpoint local = socket_.local_endpoint();
    const auto address = local.address();
    core::Endpoint result;
    if (address.is_v4()) {
      result.address = IpAddress::v4(address.to_v4().to_bytes());
    } else {
      result.address = IpAddress::v6(address.to_v6().to_bytes());
    }
    result.port = local.port();
    return result;
  }

  int queries() const { return queries_; }
  int answers() const { return answers_; }

  // Called with each query as it arrives, before any answer is sent.
  std::function<void()> on_query;
  // Called after each answer is sent.
  std::function<void()> on_answer;

 private:
  void receive() {
    socket_.async_receive_from(
        asio::buffer(buffer_), peer_, [this](error_code ec, std::size_t size) {
          if (ec) return;
          ++queries_;
          if (on_query) on_query();
          if (!silent_) {
            std::chrono::milliseconds delay{0};
            if (auto reply = answer(
                    std::vector<std::uint8_t>(buffer_.begin(), buffer_.begin() + size), delay)) {
              if (delay.count() == 0) {
                send(*reply, peer_);
              } else {
                auto timer = std::make_shared<asio::steady_timer>(socket_.get_executor(), delay);
                timer->async_wait(
                    [this, timer, reply = *reply, peer = peer_](error_code wait_error) {
                      if (!wait_error) send(reply, peer);
                    });
              }
            }
          }
          receive();
        });
  }

  void send(const std::vector<std::uint8_t>& reply, const udp::endpoint& peer) {
    error_code ignored;
    socket_.send_to(asio::buffer(reply), peer, 0, ignored);
    ++answers_;
    if (on_answer) on_answer();
  }

  std::optional<std::vector<std::uint8_t>> answer(const std::vector<std::uint8_t>& query,
                                                  std::chrono::milliseconds& delay) const {
    if (query.size() < 12 || query[4] != 0 || query[5] != 1) return std::nullopt;
    // QNAME as a dotted, lower-case name; no compression in questions.
    std::string name;
    std::size_t at = 12;
    while (at < query.size() && query[at] != 0) {
      const std::size_t length = query[at++];
      if (length > 63 || at + length > query.size()) return std::nullopt;
      if (!name.empty()) name += '.';
      for (std::size_t i = 0; i < length; ++i) {
        name += static_cast<char>(std::tolower(query[at + i]));
      }
      at += length;
    }
    if (at + 5 > query.size()) return std::nullopt;
    const std::size_t question_end = at + 5;  // root label, QTYPE, QCLASS
    const std::uint16_t qtype = static_cast<std::uint16_t>(query[at + 1] << 8 | query[at + 2]);

    std::vector<IpAddress> answers;
    std::uint8_t rcode = 0;
    std::uint8_t ttl = 60;
    const auto found = zone_.find(name);
    if (found == zone_.end()) {
      rcode = 3;  // NXDOMAIN
    } else {
      delay = found->second.delay;
      ttl = found->second.ttl;
      if (qtype == type_a) answers = found->second.a;
      if (qtype == type_aaaa) answers = found->second.aaaa;
    }

    std::vector<std::uint8_t> reply(query.begin(),
                                    query.begin() + static_cast<std::ptrdiff_t>(question_end));
    reply[2] = static_cast<std::uint8_t>(0x80 | (query[2] & 0x01));  // QR, echo RD
    reply[3] = static_cast<std::uint8_t>(0x80 | rcode);              // RA
    reply[6] = 0;
    reply[7] = static_cast<std::uint8_t>(answers.size());
    reply[8] = reply[9] = reply[10] = reply[11] = 0;
    for (const IpAddress& address : answers) {
      const std::size_t length = address.is_v4() ? 4 : 16;
      const std::uint8_t record[] = {
          0xc0, 0x0c,  // name: pointer to the question
          0,    static_cast<std::uint8_t>(address.is_v4() ? type_a : type_aaaa),
          0,    1,  // class IN
          0,    0,
          0,    ttl,  // TTL
          0,    static_cast<std::uint8_t>(length)};
      reply.insert(reply.end(), std::begin(record), std::end(record));
      reply.insert(reply.end(), address.bytes().begin(), address.bytes().begin() + length);
    }
    return reply;
  }

  udp::socket socket_;
  std::map<std::string, Records> zone_;
  bool silent_;
  std::array<std::uint8_t, 1500> buffer_{};
  udp::endpoint peer_;
  int queries_ = 0;
  int answers_ = 0;
};

IpAddress ip(const char* text) {
  auto parsed = IpAddress::parse(text);
  EXPECT_TRUE(parsed) << text;
  return parsed.value_or(IpAddress{});
}

std::vector<std::string> texts(const std::vector<IpAddress>& addresses) {
  std::vector<std::string> result;
  result.reserve(addresses.size());
  for (const auto& address : addresses) result.push_back(address.to_string());
  return result;
}

// Runs `body` as a coroutine on `io` until it finishes or `limit` passes. Returns whether
// it finished; exceptions from the body are rethrown.
template <class Body>
bool run(asio::io_context& io, Body body, std::chrono::seconds limit = 10s) {
  bool finished = false;
  std::exception_ptr error;
  asio::co_spawn(io, body(), [&](std::exception_ptr e) {
    finished = true;
    error = std::move(e);
    io.stop();
  });
  asio::steady_timer guard(io, limit);
  guard.async_wait([&](error_code ec) {
    if (!ec) io.stop();
  });
  io.run();
  io.restart();
  if (error) std::rethrow_exception(error);
  return finished;
}

ResolveResult resolve_one(asio::io_context& io, Resolver& resolver, const std::string& name) {
  ResolveResult result;
  result.error = "not completed";
  const bool finished =
      run(io, [&]() -> awaitable<void> { result = co_await resolver.resolve(name); });
  EXPECT_TRUE(finished);
  return result;
}

TEST(Resolver, LocalhostComesFromEtcHostsWithoutServers) {
  asio::io_context io;
  Resolver resolver(io, {}, 5s);
  const ResolveResult result = resolve_one(io, resolver, "localhost");
  ASSERT_EQ(result.status, Status::ok) << result.error;
  ASSERT_FALSE(result.addresses.empty());
  for (const IpAddress& address : result.addresses) {
    EXPECT_TRUE(address == ip("127.0.0.1") || address == ip("::1")) << address.to_string();
  }
}

TEST(Resolver, ReturnsIpv4FirstThenIpv6WithoutDuplicates) {
  asio::io_context io;
  FakeDnsServer server(io, {{"dual.test",
                             {{ip("192.0.2.7"), ip("192.0.2.1"), ip("192.0.2.7")},
                              {ip("2001:db8::2"), ip("2001:db8::1"), ip("2001:db8::2")}}}});
  Resolver resolver(io, {server.endpoint()}, 5s);
  const ResolveResult result = resolve_one(io, resolver, "dual.test");
  ASSERT_EQ(result.status, Status::ok) << result.error;
  EXPECT_EQ(texts(result.addresses),
            (std::vector<std::string>{"192.0.2.7", "192.0.2.1", "2001:db8::2", "2001:db8::1"}));
}

TEST(Resolver, ReturnsMappedIpv6AnswersAsIpv4) {
  asio::io_context io;
  FakeDnsServer server(
      io,
      {{"mapped.test",
        {{ip("192.0.2.5")}, {ip("::ffff:127.0.0.1"), ip("::ffff:192.0.2.5"), ip("2001:db8::5")}}}});
  Resolver resolver(io, {server.endpoint()}, 5s);
  const ResolveResult result = resolve_one(io, resolver, "mapped.test");
  ASSERT_EQ(result.status, Status::ok) << result.error;
  EXPECT_EQ(texts(result.addresses),
            (std::vector<std::string>{"192.0.2.5", "127.0.0.1", "2001:db8::5"}));
}

TEST(Resolver, ResolvesOnlyOneFamily) {
  asio::io_context io;
  FakeDnsServer server(
      io, {{"v4.test", {{ip("198.51.100.4")}, {}}}, {"v6.test", {{}, {ip("2001:db8::6")}}}});
  Resolver resolver(io, {server.endpoint()}, 5s);
  ResolveResult v4 = resolve_one(io, resolver, "v4.test");
  ResolveResult v6 = resolve_one(io, resolver, "v6.test");
  ASSERT_EQ(v4.status, Status::ok) << v4.error;
  ASSERT_EQ(v6.status, Status::ok) << v6.error;
  EXPECT_EQ(texts(v4.addresses), std::vector<std::string>{"198.51.100.4"});
  EXPECT_EQ(texts(v6.addresses), std::vector<std::string>{"2001:db8::6"});
}

TEST(Resolver, NxdomainIsNotFound) {
  asio::io_context io;
  FakeDnsServer server(io, {{"dual.test", {{ip("192.0.2.1")}, {}}}});
  Resolver resolver(io, {server.endpoint()}, 5s);
  const ResolveResult result = resolve_one(io, resolver, "missing.test");
  EXPECT_EQ(result.status, Status::not_found) << result.error;
  EXPECT_TRUE(result.addresses.empty());
  EXPECT_FALSE(result.error.empty());
}

TEST(Resolver, NameWithoutAddressRecordsIsNotFound) {
  asio::io_context io;
  FakeDnsServer server(io, {{"empty.test", {}}});
  Resolver resolver(io, {server.endpoint()}, 5s);
  const ResolveResult result = resolve_one(io, resolver, "empty.test");
  EXPECT_EQ(result.status, Status::not_found) << result.error;
  EXPECT_TRUE(result.addresses.empty());
}

TEST(Resolver, NameIsNotExtendedWithSearchDomains) {
  asio::io_context io;
  // With a search domain appended the server would see "single.search.test", and answer.
  FakeDnsServer server(io, {{"single.search.test", {{ip("192.0.2.9")}, {}}}});
  // The test is single-threaded; nothing else reads the environment meanwhile.
  ::setenv("LOCALDOMAIN", "search.test", 1);  // NOLINT(concurrency-mt-unsafe)
  Resolver resolver(io, {server.endpoint()}, 5s);
  ::unsetenv("LOCALDOMAIN");  // NOLINT(concurrency-mt-unsafe)
  const ResolveResult result = resolve_one(io, resolver, "single");
  EXPECT_EQ(result.status, Status::not_found) << result.error;
  EXPECT_EQ(server.queries(), 2);  // one A and one AAAA, for "single" only
}

TEST(Resolver, SilentServerTimesOutAfterTheConfiguredTimeout) {
  asio::io_context io;
  FakeDnsServer server(io, {}, /*silent=*/true);
  Resolver resolver(io, {server.endpoint()}, 1s);
  const auto started = std::chrono::steady_clock::now();
  const ResolveResult result = resolve_one(io, resolver, "slow.test");
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(result.status, Status::timeout) << result.error;
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_GE(server.queries(), 1);
}

TEST(Resolver, AnswersArrivingAfterTheTimeoutAreHarmless) {
  asio::io_context io;
  FakeDnsServer server(io, {{"late.test", {{ip("192.0.2.1")}, {}, 1500ms}},
                            {"prompt.test", {{ip("192.0.2.2")}, {}}}});
  Resolver resolver(io, {server.endpoint()}, 1s);
  ResolveResult late = resolve_one(io, resolver, "late.test");
  EXPECT_EQ(late.status, Status::timeout) << late.error;

  // Wait for the delayed answers to the first A and AAAA queries, then resolve again on
  // the same channel: c-ares has read the late answers before this one.
  ResolveResult prompt;
  const bool finished = run(io, [&]() -> awaitable<void> {
    asio::steady_timer answered(co_await asio::this_coro::executor,
                                std::chrono::steady_clock::time_point::max());
    server.on_answer = [&] {
      if (server.answers() >= 2) answered.cancel();
    };
    error_code ec;
    if (server.answers() < 2)
      co_await answered.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    server.on_answer = nullptr;
    prompt = co_await resolver.resolve("prompt.test");
  });
  ASSERT_TRUE(finished);
  ASSERT_EQ(prompt.status, Status::ok) << prompt.error;
  EXPECT_EQ(texts(prompt.addresses), std::vector<std::string>{"192.0.2.2"});
}

TEST(Resolver, UnreachableServerIsAFailureOrTimeout) {
  asio::io_context io;
  core::Endpoint closed;
  {
    // A port that was just free: queries to it draw ICMP port unreachable.
    udp::socket probe(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed.address = ip("127.0.0.1");
    closed.port = probe.local_endpoint().port();
  }
  Resolver resolver(io, {closed}, 2s);
  const ResolveResult result = resolve_one(io, resolver, "nowhere.test");
  EXPECT_TRUE(result.status == Status::failure || result.status == Status::timeout)
      << testing::PrintToString(result.status) << ": " << result.error;
  EXPECT_FALSE(result.error.empty());
}

TEST(Resolver, UsesAnIpv6Server) {
  asio::io_context io;
  std::optional<FakeDnsServer> server;
  try {
    server.emplace(io, std::map<std::string, Records>{{"six.test", {{ip("192.0.2.6")}, {}}}}, false,
                   udp::endpoint(asio::ip::make_address("::1"), 0));
  } catch (const boost::system::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback: " << e.what();
  }
  Resolver resolver(io, {server->endpoint()}, 5s);
  const ResolveResult result = resolve_one(io, resolver, "six.test");
  ASSERT_EQ(result.status, Status::ok) << result.error;
  EXPECT_EQ(texts(result.addresses), std::vector<std::string>{"192.0.2.6"});
}

TEST(Resolver, ManyConcurrentResolves) {
  asio::io_context io;
  constexpr int count = 100;
  std::map<std::string, Records> zone;
  for (int i = 0; i < count; ++i) {
    zone["host" + std::to_string(i) + ".test"] = {
        {IpAddress::v4(
            {10, 0, static_cast<std::uint8_t>(i / 256), static_cast<std::uint8_t>(i % 256)})},
        {}};
  }
  FakeDnsServer server(io, zone);
  Resolver resolver(io, {server.endpoint()}, 5s);

  std::vector<ResolveResult> results(count);
  int completed = 0;
  const bool finished = run(io, [&]() -> awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer all_done(executor, std::chrono::steady_clock::time_point::max());
    for (int i = 0; i < count; ++i) {
      asio::co_spawn(
          executor,
          [&, i]() -> awaitable<void> {
            results[i] = co_await resolver.resolve("host" + std::to_string(i) + ".test");
            if (++completed == count) all_done.cancel();
          },
          asio::detached);
    }
    error_code ec;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  });
  ASSERT_TRUE(finished);
  ASSERT_EQ(completed, count);
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(results[i].status, Status::ok) << i << ": " << results[i].error;
    EXPECT_EQ(results[i].addresses,
              std::vector<IpAddress>{IpAddress::v4({10, 0, static_cast<std::uint8_t>(i / 256),
                                                    static_cast<std::uint8_t>(i % 256)})});
  }
}

TEST(Resolver, DestroyingTheResolverCompletesPendingResolvesWithFailure) {
  asio::io_context io;
  FakeDnsServer server(io, {}, /*silent=*/true);
  auto resolver =
      std::make_unique<Resolver>(io, std::vector<core::Endpoint>{server.endpoint()}, 30s);
  // Destroy it once the query is known to be on the wire, from a handler of its own.
  server.on_query = [&] { asio::post(io, [&] { resolver.reset(); }); };
  const auto started = std::chrono::steady_clock::now();
  const ResolveResult result = resolve_one(io, *resolver, "pending.test");
  EXPECT_EQ(result.status, Status::failure);
  EXPECT_FALSE(result.error.empty());
  EXPECT_EQ(resolver, nullptr);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

TEST(Resolver, DestroyingTheResolverWithManyPendingResolves) {
  asio::io_context io;
  FakeDnsServer server(io, {}, /*silent=*/true);
  auto resolver =
      std::make_unique<Resolver>(io, std::vector<core::Endpoint>{server.endpoint()}, 30s);
  constexpr int count = 20;
  int failed = 0;
  int completed = 0;
  const bool finished = run(io, [&]() -> awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer all_done(executor, std::chrono::steady_clock::time_point::max());
    for (int i = 0; i < count; ++i) {
      asio::co_spawn(
          executor,
          [&, i]() -> awaitable<void> {
            ResolveResult result =
                co_await resolver->resolve("pending" + std::to_string(i) + ".test");
            failed += result.status == Status::failure;
            if (++completed == count) all_done.cancel();
          },
          asio::detached);
    }
    server.on_query = [&] {
      if (server.queries() == 2 * count) asio::post(io, [&] { resolver.reset(); });
    };
    error_code ec;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  });
  ASSERT_TRUE(finished);
  EXPECT_EQ(completed, count);
  EXPECT_EQ(failed, count);
}

TEST(Resolver, KeepsAnswersForTheirTtlWhenCaching) {
  asio::io_context io;
  Records cached{{ip("192.0.2.10")}, {}};
  cached.ttl = 1;
  FakeDnsServer server(io, {{"cached.test", {{ip("192.0.2.9")}, {}}}, {"short.test", cached}});
  Resolver resolver(io, {server.endpoint()}, 5s, 60s);
  // An A and an AAAA query per lookup.
  ASSERT_EQ(resolve_one(io, resolver, "cached.test").status, Status::ok);
  EXPECT_EQ(server.answers(), 2);
  const ResolveResult again = resolve_one(io, resolver, "cached.test");
  ASSERT_EQ(again.status, Status::ok);
  EXPECT_EQ(texts(again.addresses), std::vector<std::string>{"192.0.2.9"});
  EXPECT_EQ(server.answers(), 2);  // from the cache
  // A TTL of one second: asked again once it has passed.
  ASSERT_EQ(resolve_one(io, resolver, "short.test").status, Status::ok);
  EXPECT_EQ(server.answers(), 4);
  std::this_thread::sleep_for(1100ms);
  ASSERT_EQ(resolve_one(io, resolver, "short.test").status, Status::ok);
  EXPECT_EQ(server.answers(), 6);
}

TEST(Resolver, DoesNotKeepFailuresOrAnythingWithoutCaching) {
  asio::io_context io;
  FakeDnsServer server(io, {{"here.test", {{ip("192.0.2.9")}, {}}}});
  Resolver caching(io, {server.endpoint()}, 5s, 60s);
  EXPECT_EQ(resolve_one(io, caching, "missing.test").status, Status::not_found);
  const int after_first = server.answers();
  EXPECT_EQ(resolve_one(io, caching, "missing.test").status, Status::not_found);
  EXPECT_GT(server.answers(), after_first);
  Resolver plain(io, {server.endpoint()}, 5s);
  ASSERT_EQ(resolve_one(io, plain, "here.test").status, Status::ok);
  const int after_here = server.answers();
  ASSERT_EQ(resolve_one(io, plain, "here.test").status, Status::ok);
  EXPECT_GT(server.answers(), after_here);
}

}  // namespace
}  // namespace egressd::io
