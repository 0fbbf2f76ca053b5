// hut's canary analysis against the ADR rule alone, a Flagger-style and a
// Kayenta-style judge (judges.h), all fed the same simulated runs (same
// seeds, 1 s scrapes, one observation shared by every judge): time to roll
// back a bad canary, and false rollbacks of healthy ones. Prints markdown.
// Not a test; run by hand (bench/run.sh):
//   build/bin/judges_bench [bad_runs=200] [healthy_runs=1000]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "src/analysis/histogram.h"
#include "bench/judges/judges.h"
#include "testing/analysis_simulator.h"

namespace hut::analysis {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kStart(seconds(1767225600));
// Long enough for every judge to decide: Flagger's slowest outcome is four
// failed and five passed checks (promote at 9 min) or a rollback at 10 min.
const Duration kCap = minutes(15);

struct NamedJudge {
  std::string name;
  std::function<std::unique_ptr<Judge>()> make;
};

template <typename J, typename... Args>
std::unique_ptr<Judge> Own(Args&&... args) {
  return std::make_unique<J>(std::forward<Args>(args)...);
}

std::vector<NamedJudge> Judges() {
  KayentaOptions once;
  once.judge_every_interval = false;
  // The thresholds of Flagger's documented example (99 %, 500 ms), for contrast.
  FlaggerOptions example;
  example.min_success_rate = 0.99;
  example.max_p99_seconds = 0.5;
  return {
      {"hut (ADR policy defaults)",
       [] { return Own<AnalysisJudge>(*AnalysisJudge::Create(HutConfig(), kStart)); }},
      {"ADR rule alone",
       [] { return Own<AnalysisJudge>(*AnalysisJudge::Create(AdrRuleConfig(), kStart)); }},
      {"Flagger-style (95 %, 2 s)", [] { return Own<FlaggerJudge>(FlaggerOptions(), kStart); }},
      {"Flagger-style, example thresholds (99 %, 500 ms)",
       [example] { return Own<FlaggerJudge>(example, kStart); }},
      {"Kayenta-style, judged every minute from 2 min",
       [] { return Own<KayentaJudge>(KayentaOptions(), kStart); }},
      {"Kayenta-style, judged once at 5 min",
       [once] { return Own<KayentaJudge>(once, kStart); }},
  };
}

struct Outcome {
  Decision decision = Decision::kContinue;  // kContinue: undecided at kCap
  double seconds = 0;
};

// Per judge: the outcome of each run.
using Outcomes = std::vector<std::vector<Outcome>>;

// Runs every judge over `runs` simulated runs from `first_seed`. Also the
// largest canary P99 over any whole minute (Flagger's view), in `worst_p99`.
Outcomes RunAll(const std::vector<NamedJudge>& judges, const SimProfile& profile,
                uint64_t first_seed, int runs, double* worst_p99) {
  Outcomes out(judges.size());
  for (int r = 0; r < runs; ++r) {
    TrafficSimulator sim(profile, first_seed + r, kStart);
    std::vector<std::unique_ptr<Judge>> live;
    for (const NamedJudge& j : judges) live.push_back(j.make());
    std::vector<Outcome> result(judges.size());
    size_t decided = 0;
    Observation minute_ago;
    for (TimePoint t = kStart; t <= kStart + kCap && decided < judges.size(); t += seconds(1)) {
      const Observation o = sim.Advance(t);
      if ((t - kStart) % minutes(1) == Duration(0)) {
        if (t > kStart) {
          LatencyHistogram d = o.canary.series.begin()->second.latency;
          const LatencyHistogram& a = minute_ago.canary.series.begin()->second.latency;
          for (size_t i = 0; i < d.cumulative_counts.size(); ++i) {
            d.cumulative_counts[i] -= a.cumulative_counts[i];
          }
          const double p99 = HistogramQuantile(0.99, d);
          if (!std::isnan(p99)) *worst_p99 = std::max(*worst_p99, p99);
        }
        minute_ago = o;
      }
      for (size_t j = 0; j < live.size(); ++j) {
        if (result[j].decision != Decision::kContinue) continue;
        const Decision d = live[j]->Observe(o);
        if (d == Decision::kContinue) continue;
        result[j] = {d, std::chrono::duration<double>(t - kStart).count()};
        ++decided;
      }
    }
    for (size_t j = 0; j < judges.size(); ++j) out[j].push_back(result[j]);
  }
  return out;
}

std::string Clock(double s) {
  const int whole = static_cast<int>(std::lround(s));
  return absl::StrFormat("%d:%02d", whole / 60, whole % 60);
}

struct Summary {
  int runs = 0;
  int rollbacks = 0;
  int promotes = 0;
  int inconclusive = 0;
  int undecided = 0;
  std::vector<double> rollback_s;
  std::vector<double> promote_s;
};

Summary Summarize(const std::vector<Outcome>& outcomes) {
  Summary s;
  for (const Outcome& o : outcomes) {
    ++s.runs;
    switch (o.decision) {
      case Decision::kRollback:
        ++s.rollbacks;
        s.rollback_s.push_back(o.seconds);
        break;
      case Decision::kPromote:
        ++s.promotes;
        s.promote_s.push_back(o.seconds);
        break;
      case Decision::kInconclusive:
        ++s.inconclusive;
        break;
      case Decision::kContinue:
        ++s.undecided;
        break;
    }
  }
  std::sort(s.rollback_s.begin(), s.rollback_s.end());
  std::sort(s.promote_s.begin(), s.promote_s.end());
  return s;
}

// The median as simulation_test.cc takes it (the upper middle), and the max.
std::string MedianMax(const std::vector<double>& sorted) {
  if (sorted.empty()) return "–";
  return absl::StrFormat("%s / %s", Clock(sorted[sorted.size() / 2]), Clock(sorted.back()));
}

std::string Others(const Summary& s) {
  std::string text;
  auto add = [&text](int n, const std::string& what) {
    if (n == 0) return;
    if (!text.empty()) text += ", ";
    text += absl::StrFormat("%d %s", n, what);
  };
  if (s.promotes > 0) {
    add(s.promotes, absl::StrFormat("promoted (median / max %s)", MedianMax(s.promote_s)));
  }
  add(s.inconclusive, "inconclusive");
  add(s.undecided,
      absl::StrFormat("undecided at %s", Clock(std::chrono::duration<double>(kCap).count())));
  return text.empty() ? "–" : text;
}

int Main(int argc, char** argv) {
  const int bad_runs = argc > 1 ? std::atoi(argv[1]) : 200;
  const int healthy_runs = argc > 2 ? std::atoi(argv[2]) : 1000;
  const std::vector<NamedJudge> judges = Judges();

  SimProfile errors;  // 20 % vs 0.5 %, 30 vs 270 req/s, noise and incidents
  errors.canary.error_rate = 0.20;
  SimProfile slow;  // 240 vs 80 ms median; no 4x-slow seconds (P99 stays under 2 s)
  slow.canary.latency_median = 3 * slow.baseline.latency_median;
  slow.slow_incident_chance = 0;
  const SimProfile healthy;

  double p99_errors = 0, p99_slow = 0, p99_healthy = 0;
  const Outcomes e = RunAll(judges, errors, 20000, bad_runs, &p99_errors);
  const Outcomes l = RunAll(judges, slow, 30000, bad_runs, &p99_slow);
  const Outcomes h = RunAll(judges, healthy, 1000, healthy_runs, &p99_healthy);

  std::printf("Simulated runs (testing/analysis_simulator.h), 1 s scrapes, the same seeds for every "
              "judge: %d with 20 %% canary errors (seeds 20000+), %d with a 3x slower canary "
              "(seeds 30000+), %d healthy (seeds 1000+). Times from the start of the analysis, "
              "m:ss, median / max over the runs that rolled back.\n\n",
              bad_runs, bad_runs, healthy_runs);
  std::printf("| judge | 20 %% errors: rolled back | median / max | 3x latency: rolled back | "
              "median / max | healthy: false rollbacks |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (size_t j = 0; j < judges.size(); ++j) {
    const Summary se = Summarize(e[j]);
    const Summary sl = Summarize(l[j]);
    const Summary sh = Summarize(h[j]);
    std::printf("| %s | %d / %d | %s | %d / %d | %s | %d / %d (%.1f %%) |\n",
                judges[j].name.c_str(), se.rollbacks, se.runs, MedianMax(se.rollback_s).c_str(),
                sl.rollbacks, sl.runs, MedianMax(sl.rollback_s).c_str(), sh.rollbacks, sh.runs,
                100.0 * sh.rollbacks / std::max(1, sh.runs));
  }
  std::printf("\nOther outcomes:\n\n");
  for (size_t j = 0; j < judges.size(); ++j) {
    const Summary sh = Summarize(h[j]);
    std::printf("* %s: 20 %% errors: %s; 3x latency: %s; healthy: %s; healthy rollbacks at "
                "median / max %s\n",
                judges[j].name.c_str(), Others(Summarize(e[j])).c_str(),
                Others(Summarize(l[j])).c_str(), Others(sh).c_str(),
                MedianMax(sh.rollback_s).c_str());
  }
  std::printf("\nLargest canary P99 over a whole minute: 20 %% errors %.2f s, 3x latency %.2f s, "
              "healthy %.2f s.\n",
              p99_errors, p99_slow, p99_healthy);
  return 0;
}

}  // namespace
}  // namespace hut::analysis

int main(int argc, char** argv) { return hut::analysis::Main(argc, argv); }
