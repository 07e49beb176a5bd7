// Micro-benchmarks of reading a request head (egressd_io): the strict checks of
// io::head_problem() and io::take_head() (checks, then Beast's parser) on the head a
// browser sends to a proxy for a plain-HTTP page, 651 bytes: a request line and 13 fields.

#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "core/config.hpp"
#include "io/asio.hpp"
#include "io/http_headers.hpp"

namespace io = egressd::io;
namespace core = egressd::core;
namespace http = boost::beast::http;

namespace {

const std::string kHead =
    "GET http://www.example.com/articles/2024/performance.html?ref=front HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: http://www.example.com/\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=4f9c2a7d1e8b4c3a9f0e6d5c4b3a2910; theme=dark; "
    "consent=analytics:0,ads:0; last_seen=1700000000\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-User: ?1\r\n"
    "\r\n";

// head_problem() takes the head without the empty line that ends it.
std::string_view head_lines() { return std::string_view(kHead).substr(0, kHead.size() - 2); }

void BM_HeadProblem_BrowserGet(benchmark::State& state) {
  const core::Limits limits;
  for (auto _ : state) {
    io::HeadStatus status = io::HeadStatus::ok;
    auto problem = io::head_problem(head_lines(), true, limits, status);
    if (!problem.empty()) {
      state.SkipWithError(problem.c_str());
      break;
    }
    benchmark::DoNotOptimize(problem);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kHead.size()));
}
BENCHMARK(BM_HeadProblem_BrowserGet);

// What the session does for every request: a new parser with its limits, then
// take_head() on the bytes received.
void BM_TakeHead_BrowserGet(benchmark::State& state) {
  const core::Limits limits;
  for (auto _ : state) {
    http::parser<true, http::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
    std::size_t used = 0;
    std::string problem;
    io::HeadStatus status = io::HeadStatus::ok;
    io::error_code ec;
    auto progress = io::take_head<true>(kHead, parser, limits, used, problem, status, ec);
    if (progress != io::HeadProgress::parsed || used != kHead.size()) {
      state.SkipWithError("head not parsed");
      break;
    }
    benchmark::DoNotOptimize(parser.get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kHead.size()));
}
BENCHMARK(BM_TakeHead_BrowserGet);

// The same head arriving in two reads (split inside the User-Agent line): the first
// take_head() sees an incomplete head, the second the whole of it.
void BM_TakeHead_BrowserGet_TwoReads(benchmark::State& state) {
  const core::Limits limits;
  const std::string_view first = std::string_view(kHead).substr(0, 120);
  for (auto _ : state) {
    http::parser<true, http::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
    std::size_t used = 0;
    std::string problem;
    io::HeadStatus status = io::HeadStatus::ok;
    io::error_code ec;
    auto p1 = io::take_head<true>(first, parser, limits, used, problem, status, ec);
    auto p2 = io::take_head<true>(kHead, parser, limits, used, problem, status, ec);
    if (p1 != io::HeadProgress::incomplete || p2 != io::HeadProgress::parsed) {
      state.SkipWithError("head not parsed");
      break;
    }
    benchmark::DoNotOptimize(parser.get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kHead.size()));
}
BENCHMARK(BM_TakeHead_BrowserGet_TwoReads);

// Beast's parser alone on the same head, for comparison with take_head().
void BM_BeastParserOnly_BrowserGet(benchmark::State& state) {
  const core::Limits limits;
  for (auto _ : state) {
    http::parser<true, http::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
    io::error_code ec;
    auto used = parser.put(boost::asio::buffer(kHead.data(), kHead.size()), ec);
    if (ec || used != kHead.size() || !parser.is_header_done()) {
      state.SkipWithError("head not parsed");
      break;
    }
    benchmark::DoNotOptimize(parser.get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kHead.size()));
}
BENCHMARK(BM_BeastParserOnly_BrowserGet);

}  // namespace

BENCHMARK_MAIN();
