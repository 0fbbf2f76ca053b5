// How the control plane's canary work grows with the number of canaries
// analysed at once: N services, each with a canary in its analysing phase,
// every one ticked once per simulated second: its scrape, its analysis tick,
// the scrape recorded in the store, the rollout's live view saved, the
// strategy's decision. The runtime is the fake one and the metrics are
// scripted, so this leaves out reading HAProxy and each replica's /metrics
// (bench/canary_bench.sh measures those on the real platform). One SQLite
// file on disk, as `hut up` keeps. Not a test: run by hand (bench/run.sh).
//
//   canary_controller_bench [ROUNDS [SIZE...]]   (default: 30 simulated seconds;
//                                                 1, 10, 100 and 1,000 canaries)

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/controller/service_controller.h"
#include "src/spec/load.h"
#include "src/store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/fake_metrics_source.h"
#include "testing/fake_runtime.h"
#include "testing/test_env.h"

namespace hut {
namespace {

class DiscardLogSink final : public LogSink {
 public:
  void Write(std::string_view) override {}
};

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

std::string SpecText(int services) {
  std::string text = "services:\n";
  for (int i = 0; i < services; ++i) {
    absl::StrAppend(&text, "  s", i, ":\n    port: ", 20000 + i,
                    "\n    release: {command: [foohut-api, serve]}\n");
  }
  absl::StrAppend(&text,
                  "policies:\n  canary: {weight: 10%, analysis: 1h, rollback_window: 5m}\n"
                  "environments:\n  production:\n    runtime: local\n    strategy: canary\n"
                  "    services:\n");
  for (int i = 0; i < services; ++i) absl::StrAppend(&text, "      s", i, ": {replicas: 3}\n");
  return text;
}

struct Result {
  double cpu_per_round_ms = 0;
  double wall_per_round_ms = 0;
  double per_canary_us = 0;
};

// `n` canaries analysed together for `rounds` simulated seconds.
Result Measure(int n, int rounds) {
  spec::LoadResult loaded = spec::ParseSpec(SpecText(n), "bench.yaml");
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.problems[0].ToString().c_str());
    std::exit(1);
  }
  const spec::Spec spec = *loaded.spec;
  const spec::Environment& env = *spec.FindEnvironment("production");
  testing::FakeClock clock;
  // One fake runtime per service: the fake lists replicas by scanning them
  // all, which would otherwise be most of what this measures at 1,000.
  std::vector<std::unique_ptr<testing::FakeRuntime>> runtimes;
  testing::FakeMetrics metrics;
  metrics.traffic[1] = {270, 0.005, 1};
  metrics.traffic[2] = {30, 0.005, 1};
  DiscardLogSink sink;
  testing::TempDir dir;
  auto store = store::SqliteStore::Open(dir.path() + "/hut.db", clock);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  std::vector<std::unique_ptr<controller::ServiceController>> controllers;
  for (const spec::ServiceDeployment& d : env.services) {
    controller::RolloutAnalysisOptions options;
    options.metrics = [&metrics](const std::string&, int canary, int baseline) {
      return std::make_unique<testing::FakeMetricsSource>(metrics, canary, baseline);
    };
    runtimes.push_back(std::make_unique<testing::FakeRuntime>(clock));
    controllers.push_back(std::make_unique<controller::ServiceController>(
        spec, env, *spec.FindService(d.service), *runtimes.back(), **store, clock,
        Logger(sink, clock, "controller"), std::move(options)));
  }
  auto tick_all = [&] {
    for (auto& c : controllers) {
      if (absl::Status s = c->Tick(); !s.ok()) {
        std::fprintf(stderr, "tick: %s\n", s.ToString().c_str());
        std::exit(1);
      }
    }
    clock.Advance(std::chrono::seconds(1));
    for (auto& runtime : runtimes) runtime->Step();
  };
  // Revision 1 serves (a first deployment is promoted at once), then a
  // canary of revision 2 is analysed.
  for (auto& c : controllers) (void)c->Deploy({.version = "1.0.0", .env = {}, .strategy = {}});
  for (int i = 0; i < 5; ++i) tick_all();
  for (auto& c : controllers) (void)c->Deploy({.version = "2.0.0", .env = {}, .strategy = {}});
  for (int i = 0; i < 5; ++i) tick_all();
  for (const spec::ServiceDeployment& d : env.services) {
    auto latest = (*store)->LatestRollout("production", d.service);
    if (!latest.ok() || !*latest || (*latest)->phase != store::RolloutPhase::kAnalysing) {
      std::fprintf(stderr, "%s is not analysing\n", d.service.c_str());
      std::exit(1);
    }
  }
  const double cpu0 = CpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) tick_all();
  const double cpu = CpuSeconds() - cpu0;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return {1e3 * cpu / rounds, 1e3 * wall / rounds, 1e6 * cpu / rounds / n};
}

}  // namespace
}  // namespace hut

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 30;
  std::printf(
      "| canaries analysed at once | CPU per round (ms) | wall per round (ms) |"
      " CPU per canary per tick (us) |\n");
  std::printf("|---|---|---|---|\n");
  std::vector<int> sizes = {1, 10, 100, 1000};
  if (argc > 2) sizes.assign(argc - 2, 0);
  for (int i = 2; i < argc; ++i) sizes[i - 2] = std::atoi(argv[i]);
  for (int n : sizes) {
    const hut::Result r = hut::Measure(n, rounds);
    std::printf("| %d | %.2f | %.2f | %.0f |\n", n, r.cpu_per_round_ms, r.wall_per_round_ms,
                r.per_canary_us);
    std::fflush(stdout);
  }
  return 0;
}
