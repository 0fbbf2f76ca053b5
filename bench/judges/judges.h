#ifndef HUT_BENCH_JUDGES_JUDGES_H_
#define HUT_BENCH_JUDGES_JUDGES_H_

// Alternative canary judges, for comparison benchmarks only (judges_bench.cc,
// docs/analysis.md "Compared with other judges"); hut itself does not use
// them. Each takes the same cumulative observations as CanaryAnalysis and
// says continue, promote or roll back:
//  - AnalysisJudge: CanaryAnalysis itself, under HutConfig() (hut) or
//    AdrRuleConfig() (the ADR's fixed rules alone);
//  - FlaggerJudge: Flagger's canary analysis loop with its two builtin
//    metric checks;
//  - KayentaJudge: Kayenta's NetflixACAJudge (Mann-Whitney classifier,
//    score) as Spinnaker runs it every interval.
// Pure logic over observations; time is the observations' own. Not
// thread-safe. The Flagger and Kayenta judges sum each group's series and
// take the counters as never restarting (the simulator's do not).

#include <chrono>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "src/analysis/analysis.h"
#include "src/analysis/metrics_source.h"
#include "src/common/clock.h"

namespace hut::analysis {

class Judge {
 public:
  virtual ~Judge() = default;
  // Takes in the cumulative observation of both groups at o.at, which must
  // increase from call to call; the first is the reference. Returns the
  // decision at o.at: kContinue until a final decision, which later calls
  // return again.
  virtual Decision Observe(const Observation& o) = 0;
};

// ------------------------------------------------------------------ hut, ADR

// hut's analysis with the ADR policy defaults (as simulation_test.cc runs it).
AnalysisConfig HutConfig();
// The ADR's fixed triggers alone: error rate above 5 % for 2 min, P99 above
// 2 s, 3 consecutive failed health checks (and hut's outage and
// too-few-requests rules): HutConfig() with both comparisons off.
AnalysisConfig AdrRuleConfig();

// CanaryAnalysis as a Judge; its final decisions map one to one.
class AnalysisJudge final : public Judge {
 public:
  static absl::StatusOr<AnalysisJudge> Create(const AnalysisConfig& config, TimePoint started_at);
  Decision Observe(const Observation& o) override;
  const Verdict& verdict() const { return analysis_.verdict(); }

 private:
  explicit AnalysisJudge(CanaryAnalysis analysis) : analysis_(std::move(analysis)) {}
  CanaryAnalysis analysis_;
};

// ------------------------------------------------------------------ Flagger

// Flagger's `analysis` fields, with the builtin metric checks'
// thresholdRange. Defaults: the ADR's thresholds (docs/analysis.md says why).
struct FlaggerOptions {
  Duration interval = std::chrono::minutes(1);  // analysis.interval = metrics[].interval
  int threshold = 5;                            // analysis.threshold: failed checks
  int checks_to_promote = 5;                    // maxWeight / stepWeight passed checks
  double min_success_rate = 0.95;  // request-success-rate thresholdRange.min, as a fraction
  double max_p99_seconds = 2.0;    // request-duration thresholdRange.max
};

// Flagger's control loop (pkg/controller/scheduler.go, advanceCanary) with
// the canary at its weight from `started_at`. It ticks at started_at + k *
// interval (k >= 1), on the first observation at or after each tick. A tick:
//  1. if failed checks >= threshold: roll back (so the rollback comes one
//     tick after the threshold-th failed check, as Flagger's does);
//  2. checks the canary over the last interval: success rate below
//     min_success_rate, or P99 (histogram_quantile(0.99, ...)) above
//     max_p99_seconds, or no requests at all, fails the check and adds one
//     failed check (never reset);
//  3. a passed check advances the weight; the checks_to_promote-th passed
//     check promotes.
class FlaggerJudge final : public Judge {
 public:
  FlaggerJudge(const FlaggerOptions& options, TimePoint started_at);
  Decision Observe(const Observation& o) override;

  int failed_checks() const { return failed_; }
  int passed_checks() const { return passed_; }

 private:
  bool Check(const Observation& now) const;

  FlaggerOptions options_;
  TimePoint next_tick_;
  bool have_reference_ = false;
  Observation previous_;  // at the previous tick (or the reference)
  int failed_ = 0;
  int passed_ = 0;
  Decision decision_ = Decision::kContinue;
};

// ------------------------------------------------------------------ Kayenta

// R's wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE), the
// asymptotic two-sample test Kayenta's MannWhitney.eval reimplements.
struct MannWhitneyResult {
  bool ok = false;  // false: every observation tied, no interval (Kayenta throws)
  double u = 0;     // pairs with x_i > y_j, ties counting 1/2
  double p_value = 1;  // two-sided, normal approximation, tie and continuity corrections
  // Confidence interval of the location shift x - y, and its estimate (the
  // shift where the standardized statistic is 0; the Hodges-Lehmann median of
  // pairwise differences up to the continuity correction). When the level
  // is out of reach (few points) a bound is the extreme difference, as in R.
  double lower = 0;
  double upper = 0;
  double estimate = 0;
};
MannWhitneyResult MannWhitneyTest(std::span<const double> x, std::span<const double> y,
                                  double confidence_level);

enum class MetricClass { kPass, kHigh, kLow, kNoData, kError };
enum class MetricDirection { kIncrease, kDecrease, kEither };

// Kayenta's MannWhitneyClassifier as NetflixACAJudge calls it.
struct KayentaClassifierOptions {
  double confidence_level = 0.98;  // NetflixACAJudge's constant
  double tolerance = 0.25;         // band: +-tolerance * |estimate|
  double allowed_increase = 1.0;   // effectSize.allowedIncrease (mean ratio)
  double allowed_decrease = 1.0;
  MetricDirection direction = MetricDirection::kIncrease;
};

// Pass when either group is empty (kNoData), the sorted values are equal, or
// every value is the same. Otherwise the test with experiment = canary:
// High when direction allows it, the interval's lower bound is above
// tolerance * |estimate| and mean(canary) / mean(baseline) >= allowed_increase
// (a NaN ratio skips that check); Low symmetrically; else Pass. kError when
// the test has no interval.
MetricClass ClassifyMetric(std::span<const double> canary, std::span<const double> baseline,
                           const KayentaClassifierOptions& options);

struct KayentaOptions {
  Duration step = std::chrono::minutes(1);      // one data point per metric and group per step
  Duration interval = std::chrono::minutes(1);  // a judgement every interval, growing lookback
  Duration lifetime = std::chrono::minutes(5);  // the last judgement
  // Judgements before lifetime wait until each group has this many points
  // per metric (the test cannot be computed from one point each).
  int min_points = 2;
  bool judge_every_interval = true;  // false: one judgement, at lifetime
  KayentaClassifierOptions classifier;
  double marginal_score = 75;  // a judgement scoring <= this fails the canary
  double pass_score = 95;      // the last judgement must reach it
};

// Kayenta-style judge. Each step adds one point per group to two metrics:
// the error rate (failed / requests in the step) and the P50 latency
// (histogram_quantile(0.5, ...) over the step); a step without data adds
// none (nanStrategy remove). A judgement classifies both metrics over every
// point so far; the score is 100 * Pass / (Pass + High + Low), 0 when no
// metric could be classified. As Orca's canary stage: a judgement scoring
// <= marginal_score rolls back; the judgement at lifetime promotes when it
// scores >= pass_score (and above marginal), else rolls back.
class KayentaJudge final : public Judge {
 public:
  KayentaJudge(const KayentaOptions& options, TimePoint started_at);
  Decision Observe(const Observation& o) override;

  double last_score() const { return last_score_; }  // NaN before the first judgement
  int judgements() const { return judgements_; }

 private:
  double Score() const;

  KayentaOptions options_;
  TimePoint started_at_;
  TimePoint next_point_;
  TimePoint next_judgement_;
  bool have_reference_ = false;
  Observation previous_;  // at the previous step (or the reference)
  int points_ = 0;
  std::vector<double> canary_errors_, baseline_errors_;
  std::vector<double> canary_p50_, baseline_p50_;
  double last_score_;
  int judgements_ = 0;
  Decision decision_ = Decision::kContinue;
};

}  // namespace hut::analysis

#endif  // HUT_BENCH_JUDGES_JUDGES_H_
