// Micro-benchmarks of rule compilation and decisions (egressd_core).
//
// Two clients:
// - "200 regex": the allow-list bench/run gives every proxy: 199 regular expressions for
//   made-up names, then ^127\.0\.0\.2$ (the origin) as the 200th line;
// - "100k mixed": 100 000 lines, a third each of domain:, host: and regex lines.
// Compile = build_snapshot() of a rules folder holding that one file (parse, classify,
// compile). Decide = core::decide() for a normalised host, the data path's one call.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/host.hpp"
#include "core/ip_address.hpp"
#include "core/policy.hpp"
#include "core/rules.hpp"

namespace core = egressd::core;

namespace {

// The same 200 lines as bench/run's rules_200() writes for the proxies.
std::string rules_200() {
  std::string out;
  for (int i = 1; i < 200; ++i) {
    const std::string n = std::to_string(i);
    switch (i % 4) {
      case 0: out += "^www\\.site" + n + "\\.example$\n"; break;
      case 1: out += "(^|\\.)cdn" + n + "\\.example\\.net$\n"; break;
      case 2: out += "^api[0-9]+\\.service" + n + "\\.example\\.org$\n"; break;
      default: out += "^(static|img|media)\\.host" + n + "\\.example\\.com$\n"; break;
    }
  }
  out += "^127\\.0\\.0\\.2$\n";
  return out;
}

constexpr int kMixed = 100000;

std::string rules_mixed() {
  std::string out;
  out.reserve(static_cast<std::size_t>(kMixed) * 40);
  for (int i = 0; i < kMixed; ++i) {
    const std::string n = std::to_string(i);
    switch (i % 3) {
      case 0: out += "domain:zone" + n + ".example\n"; break;
      case 1: out += "host:www.h" + n + ".example.net\n"; break;
      default: out += "^(www|api)\\.r" + n + "\\.example\\.org$\n"; break;
    }
  }
  return out;
}

const core::IpAddress kClient = core::IpAddress::v4({127, 0, 0, 1});

core::SnapshotBuild build(const std::string& content) {
  core::Config config;
  config.rules_dir = "/bench/rules";
  std::vector<core::SourceFile> files{
      core::SourceFile{"bench.127.0.0.1", "/bench/rules/bench.127.0.0.1", content}};
  return core::build_snapshot(config, files, 1);
}

const core::PolicySnapshot& snapshot_200() {
  static const auto built = build(rules_200());
  return *built.snapshot;
}

const core::PolicySnapshot& snapshot_mixed() {
  static const auto built = build(rules_mixed());
  return *built.snapshot;
}

core::Host host(const char* name) {
  auto h = core::normalize_host(name);
  if (!h) std::abort();
  return *h;
}

void check_build(benchmark::State& state, const core::SnapshotBuild& built) {
  if (!built.snapshot || !built.problems.empty()) state.SkipWithError("rules did not compile");
}

void BM_Compile_200Regex(benchmark::State& state) {
  const std::string content = rules_200();
  for (auto _ : state) {
    auto built = build(content);
    benchmark::DoNotOptimize(built.snapshot);
    check_build(state, built);
  }
}
BENCHMARK(BM_Compile_200Regex)->Unit(benchmark::kMicrosecond);

void BM_Compile_100kMixed(benchmark::State& state) {
  const std::string content = rules_mixed();
  for (auto _ : state) {
    auto built = build(content);
    benchmark::DoNotOptimize(built.snapshot);
    check_build(state, built);
  }
}
BENCHMARK(BM_Compile_100kMixed)->Unit(benchmark::kMillisecond)->Iterations(2);

// Freeing a compiled snapshot: what the thread that drops the last reference pays.
void BM_Free_100kMixed(benchmark::State& state) {
  const std::string content = rules_mixed();
  for (auto _ : state) {
    state.PauseTiming();
    auto built = build(content);
    check_build(state, built);
    state.ResumeTiming();
    built.snapshot.reset();
  }
}
BENCHMARK(BM_Free_100kMixed)->Unit(benchmark::kMillisecond)->Iterations(2);

void decide_loop(benchmark::State& state, const core::PolicySnapshot& snapshot,
                 const core::Host& h, bool expect_allow) {
  const core::DecisionRequest request{"GET", h, 80, false};
  const auto first = core::decide(snapshot, kClient, request);
  if (first.allowed() != expect_allow) {
    state.SkipWithError("unexpected verdict");
    return;
  }
  for (auto _ : state) {
    auto d = core::decide(snapshot, kClient, request);
    benchmark::DoNotOptimize(d);
  }
}

// The origin of the proxy benchmarks: an IP literal matched by the 200th line.
void BM_Decide_200Regex_AllowLastLine(benchmark::State& state) {
  decide_loop(state, snapshot_200(), host("127.0.0.2"), true);
}
BENCHMARK(BM_Decide_200Regex_AllowLastLine);

void BM_Decide_200Regex_AllowName(benchmark::State& state) {
  decide_loop(state, snapshot_200(), host("media.host99.example.com"), true);
}
BENCHMARK(BM_Decide_200Regex_AllowName);

void BM_Decide_200Regex_Deny(benchmark::State& state) {
  decide_loop(state, snapshot_200(), host("www.unlisted.example"), false);
}
BENCHMARK(BM_Decide_200Regex_Deny);

void BM_Decide_100kMixed_Host(benchmark::State& state) {
  decide_loop(state, snapshot_mixed(), host("www.h50002.example.net"), true);
}
BENCHMARK(BM_Decide_100kMixed_Host);

void BM_Decide_100kMixed_Domain(benchmark::State& state) {
  decide_loop(state, snapshot_mixed(), host("a.b.zone99999.example"), true);
}
BENCHMARK(BM_Decide_100kMixed_Domain);

void BM_Decide_100kMixed_Regex(benchmark::State& state) {
  decide_loop(state, snapshot_mixed(), host("api.r99998.example.org"), true);
}
BENCHMARK(BM_Decide_100kMixed_Regex);

void BM_Decide_100kMixed_Deny(benchmark::State& state) {
  decide_loop(state, snapshot_mixed(), host("www.unlisted.example.com"), false);
}
BENCHMARK(BM_Decide_100kMixed_Deny);

// One decision at a time, each timed on its own, over 10 000 names spread across the whole
// 100 000-line file in a shuffled order. Argument: 0 host: hits, 1 domain: hits (one label
// below the domain), 2 regex hits, 3 misses, 4 a quarter of each. Unlike the loops above,
// which decide one name again and again with everything in the CPU's caches, this shows
// the spread a worker sees. Counters: percentiles of one decision in ns, and the median
// cost of the clock reading itself (included in each figure).
void BM_Decide_100kMixed_Percentiles(benchmark::State& state) {
  const auto kind_arg = static_cast<int>(state.range(0));
  const auto& snapshot = snapshot_mixed();
  std::mt19937 rng(42);
  std::vector<core::Host> hosts;
  std::vector<bool> expect;
  for (int i = 0; i < 10000; ++i) {
    const int n = static_cast<int>(rng() % (kMixed / 3)) * 3;  // a line with n % 3 == 0
    std::string name;
    const int kind = kind_arg == 4 ? i % 4 : kind_arg;
    switch (kind) {
      case 0: name = "www.h" + std::to_string(n + 1) + ".example.net"; break;
      case 1: name = "a.zone" + std::to_string(n) + ".example"; break;
      case 2: name = "api.r" + std::to_string(n + 2) + ".example.org"; break;
      default: name = "www.unlisted" + std::to_string(n) + ".example.com"; break;
    }
    hosts.push_back(host(name.c_str()));
    expect.push_back(kind != 3);
  }
  std::vector<std::size_t> order(hosts.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);

  using Clock = std::chrono::steady_clock;
  std::vector<std::int64_t> ns;
  std::vector<std::int64_t> clock_ns;
  for (auto _ : state) {
    for (const std::size_t i : order) {
      const core::DecisionRequest request{"GET", hosts[i], 80, false};
      const auto t0 = Clock::now();
      auto d = core::decide(snapshot, kClient, request);
      const auto t1 = Clock::now();
      benchmark::DoNotOptimize(d);
      if (d.allowed() != expect[i]) {
        state.SkipWithError("unexpected verdict");
        return;
      }
      ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
      const auto t2 = Clock::now();
      clock_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t2 - t1).count());
    }
  }
  std::sort(ns.begin(), ns.end());
  std::sort(clock_ns.begin(), clock_ns.end());
  const auto at = [&](double q) {
    return static_cast<double>(ns[static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1))]);
  };
  state.counters["p50_ns"] = at(0.5);
  state.counters["p99_ns"] = at(0.99);
  state.counters["p999_ns"] = at(0.999);
  state.counters["max_ns"] = static_cast<double>(ns.back());
  state.counters["clock_ns"] = static_cast<double>(clock_ns[clock_ns.size() / 2]);
}
BENCHMARK(BM_Decide_100kMixed_Percentiles)
    ->DenseRange(0, 4)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(20);

void BM_NormalizeHost(benchmark::State& state) {
  for (auto _ : state) {
    auto h = core::normalize_host("WWW.Example.COM.");
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_NormalizeHost);

}  // namespace

BENCHMARK_MAIN();
