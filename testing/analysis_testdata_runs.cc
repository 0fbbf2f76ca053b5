#include "testing/analysis_testdata_runs.h"

#include <chrono>

#include "testing/analysis_simulator.h"

namespace hut::analysis {

std::vector<TestdataRun> MakeTestdataRuns() {
  using std::chrono::minutes;
  using std::chrono::seconds;
  const TimePoint start(seconds(1767225600));  // 2026-01-01T00:00:00Z
  const AnalysisConfig policy;                 // ADR-009 defaults, 5 min hold
  std::vector<TestdataRun> runs;

  SimProfile healthy;  // 30 vs 270 req/s, 0.5 % errors, 80 ms median, shared noise
  runs.push_back({"healthy",
                  "canary identical to the baseline (30 vs 270 req/s, 0.5 % errors, "
                  "80 ms median), with shared noise and one-group incidents",
                  SimulateRun(healthy, 1, policy, start, seconds(5), minutes(5)),
                  Decision::kPromote, Rule::kNone});

  SimProfile bad_errors = healthy;
  bad_errors.canary.error_rate = 0.20;
  runs.push_back({"bad_errors", "canary fails 20 % of requests, the baseline 0.5 %",
                  SimulateRun(bad_errors, 2, policy, start, seconds(5), minutes(1)),
                  Decision::kRollback, Rule::kErrorRateVsBaseline});

  SimProfile bad_latency = healthy;
  bad_latency.canary.latency_median = 3 * healthy.baseline.latency_median;
  runs.push_back({"bad_latency", "canary 3x slower (240 vs 80 ms median; its P99 stays under 2 s)",
                  SimulateRun(bad_latency, 3, policy, start, seconds(5), minutes(1)),
                  Decision::kRollback, Rule::kLatencyVsBaseline});

  SimProfile low = healthy;
  low.canary.rps = 0.2;
  low.baseline.rps = 1.8;
  runs.push_back({"low_traffic", "0.2 canary req/s: about 60 requests in the 5 min hold",
                  SimulateRun(low, 4, policy, start, seconds(5), minutes(5)),
                  Decision::kInconclusive, Rule::kTooFewRequests});
  return runs;
}

}  // namespace hut::analysis
