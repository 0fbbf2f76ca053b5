// The cost of the analysis per tick: one evaluation, and 1,000 analyses
// (1,000 canaries in flight) ticked together. Counts heap allocations too.
//   build-analysis/bin/analysis_bench

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <vector>

#include "src/analysis/analysis.h"
#include "testing/analysis_simulator.h"

namespace {

std::atomic<uint64_t> allocations{0};

}  // namespace

// Counting replacements of the global allocation functions. (GCC cannot see
// that they pair malloc with free.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace hut::analysis {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

const TimePoint kStart(seconds(1767225600));

AnalysisConfig LongHold() {
  AnalysisConfig c;
  c.hold = hours(1000);  // never final: every tick does the full work
  return c;
}

// One scrape's worth of traffic: 30 canary and 270 baseline requests a
// second, 0.5 % failed, spread over foohut-api's 13 buckets.
struct Feed {
  Observation o;
  explicit Feed(int seed) {
    TrafficSimulator sim(QuietProfile(), seed, kStart);
    o = sim.Advance(kStart);  // one series per group, foohut-api's buckets
  }
  const Observation& Next(int i) {
    SeriesSample* canary = &o.canary.series.begin()->second;
    SeriesSample* baseline = &o.baseline.series.begin()->second;
    o.at += seconds(1);
    canary->requests += 30;
    canary->responses_5xx += (i % 7 == 0);
    baseline->requests += 270;
    baseline->responses_5xx += (i % 3 == 0) + 1;
    uint64_t c = 0, b = 0;
    for (size_t k = 0; k < 13; ++k) {
      c += (k >= 3 && k <= 6) ? 7 + (i + k) % 2 : 0;
      b += (k >= 3 && k <= 6) ? 60 + (i + k) % 5 : 0;
      canary->latency.cumulative_counts[k] += c;
      baseline->latency.cumulative_counts[k] += b;
    }
    return o;
  }
};

void BM_OneTick(benchmark::State& state) {
  CanaryAnalysis a = *CanaryAnalysis::Create(LongHold(), kStart);
  Feed feed(1);
  a.Observe(feed.o);
  int i = 0;
  for (; i < 120; ++i) a.Observe(feed.Next(i));  // fill the windows
  const uint64_t before = allocations.load();
  for (auto _ : state) {
    const Verdict& v = a.Observe(feed.Next(i++));
    benchmark::DoNotOptimize(v.decision);
  }
  state.counters["allocs_per_tick"] = benchmark::Counter(
      static_cast<double>(allocations.load() - before) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_OneTick);

void BM_ThousandAnalyses(benchmark::State& state) {
  const int n = 1000;
  std::vector<CanaryAnalysis> analyses;
  std::vector<Feed> feeds;
  analyses.reserve(n);
  feeds.reserve(n);
  for (int k = 0; k < n; ++k) {
    analyses.push_back(*CanaryAnalysis::Create(LongHold(), kStart));
    feeds.emplace_back(k);
    analyses.back().Observe(feeds.back().o);
  }
  int i = 0;
  for (; i < 60; ++i) {
    for (int k = 0; k < n; ++k) analyses[k].Observe(feeds[k].Next(i));
  }
  const uint64_t before = allocations.load();
  for (auto _ : state) {
    for (int k = 0; k < n; ++k) {
      benchmark::DoNotOptimize(analyses[k].Observe(feeds[k].Next(i)).decision);
    }
    ++i;
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["allocs_per_tick"] =
      benchmark::Counter(static_cast<double>(allocations.load() - before) /
                         static_cast<double>(state.iterations() * n));
}
BENCHMARK(BM_ThousandAnalyses)->Unit(benchmark::kMillisecond);

// A verdict's message and JSON, built only when someone reads them.
void BM_VerdictJson(benchmark::State& state) {
  CanaryAnalysis a = *CanaryAnalysis::Create(LongHold(), kStart);
  Feed feed(1);
  a.Observe(feed.o);
  for (int i = 0; i < 60; ++i) a.Observe(feed.Next(i));
  for (auto _ : state) benchmark::DoNotOptimize(a.verdict().Json().dump());
}
BENCHMARK(BM_VerdictJson);

}  // namespace
}  // namespace hut::analysis

BENCHMARK_MAIN();
