#ifndef HUT_ANALYSIS_ANALYSIS_H_
#define HUT_ANALYSIS_ANALYSIS_H_

// The canary analysis engine: from a sequence of observations of the canary
// and the baseline (metrics_source.h), a verdict at each one: keep going,
// promote, roll back, or inconclusive. Pure logic: no clock, no I/O; the time
// of an evaluation is the observation's own timestamp (or the time of a
// failed scrape), so a recorded run replays to the same verdicts
// (record.h). analyzer.h drives it from a Clock and a MetricsSource.
//
// What rolls back (any one; the first in this order is reported):
//  1. health_checks: a canary replica has failed
//     rollback.health_check_failures (3) consecutive health checks;
//  2. error_rate: the canary's error rate over the last options.rate_window
//     (30 s) is above rollback.error_rate.threshold (5 %, strictly) at every
//     evaluation for rollback.error_rate.for_ (2 min), as a Prometheus
//     alerting rule with `for:` (one evaluation at or below resets it);
//  3. p99_latency: the canary's P99 over the last rate_window (Prometheus'
//     histogram_quantile, with at least options.min_window_latency_observations
//     observations in the window) is above rollback.p99_latency.threshold (2 s,
//     strictly) at every evaluation for rollback.p99_latency.for_ (0: at once);
//  4. error_rate_vs_baseline: the anytime-valid sequential test
//     (sequential_test.h) finds the canary's error rate worse than the
//     baseline's by more than both margins;
//  5. latency_vs_baseline: the same test finds that a larger share of the
//     canary's requests than of the baseline's is slower than the baseline's
//     recent latency_quantile (P90), by more than both latency margins;
//  6. metrics_unavailable: the source has given no observation for
//     options.max_source_outage (60 s).
// The two sequential tests share max_false_rollback_rate (alpha/2 each when
// both are on); the fixed-threshold rules 1-3 are the ADR's and are not sized
// by it.
//
// At the end of the hold (started_at + hold, plus extensions), on the first
// successful observation at or after it:
//  - a rule of 2-3 pending (above its threshold, for-duration not yet over)
//    keeps the verdict at Continue until the rule fires or clears;
//  - Inconclusive (too_few_requests) when the canary served fewer than
//    options.min_requests requests since the start, or (require_latency)
//    fewer latency observations: never promote on no data;
//  - Promote otherwise.
// While the source fails, verdicts stay Continue (state kept, triggers
// neither advance nor reset) until the outage reaches max_source_outage,
// which rolls back; a hold that ends during an outage waits for data.
// Rollback, Promote and Inconclusive are final: later observations are still
// taken in (windows and tests keep running) but the verdict stays until
// ExtendHold() reopens a Promote or Inconclusive.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/analysis/metrics_source.h"
#include "src/analysis/sequential_test.h"
#include "src/common/clock.h"
#include "src/spec/spec.h"

namespace hut::analysis {

// hut's own analysis parameters (the spec does not name them). Each default
// is justified in docs/analysis.md.
struct AnalysisOptions {
  // The sliding window over which the error-rate and P99 rules measure the
  // canary at each evaluation, > 0.
  Duration rate_window = std::chrono::seconds(30);
  // The window of recent data the sequential tests estimate their bets from
  // (and the latency test its threshold), > 0.
  Duration estimate_window = std::chrono::seconds(60);
  // Fewer canary requests (and latency observations) than this since the
  // start make the hold's end Inconclusive. >= 0.
  uint64_t min_requests = 100;
  // The P99 rule is evaluated only when the window holds at least this many
  // canary latency observations (with fewer, a P99 is the maximum); below it
  // the rule counts as not above. >= 1.
  uint64_t min_window_latency_observations = 100;
  // Whether Promote needs latency observations (a histogram) at all.
  bool require_latency = true;
  // How long the source may fail before the analysis rolls back, > 0.
  Duration max_source_outage = std::chrono::seconds(60);

  bool compare_error_rate = true;
  double error_relative_margin = 0.5;    // canary worse: rate > 1.5 x baseline's ...
  double error_absolute_margin = 0.005;  // ... and > baseline's + 0.5 percentage points
  bool compare_latency = true;
  double latency_quantile = 0.9;          // "slow": above the baseline's P90 bucket bound
  double latency_relative_margin = 0.5;   // share slow > 1.5 x baseline's share ...
  double latency_absolute_margin = 0.05;  // ... and > baseline's + 5 percentage points
  double prior_trials = 20;               // ComparisonOptions::prior_trials

  bool operator==(const AnalysisOptions&) const = default;
};

struct AnalysisConfig {
  Duration hold = std::chrono::minutes(5);  // analysis length, > 0 (CanaryStep::hold)
  spec::RollbackPolicy rollback;
  double max_false_rollback_rate = 0.01;  // CanaryPolicy's, (0, 0.5]
  spec::InconclusiveAction inconclusive = spec::InconclusiveAction::kFail;  // CanaryPolicy's
  AnalysisOptions options;
  bool operator==(const AnalysisConfig&) const = default;
};

// The config for analysing one step of `canary` (its `hold`) under `rollback`.
AnalysisConfig MakeConfig(const spec::CanaryPolicy& canary, const spec::RollbackPolicy& rollback,
                          Duration hold);

// OK, or InvalidArgument naming the first field out of its range.
absl::Status ValidateConfig(const AnalysisConfig& config);

enum class Decision {
  kContinue,      // keep analysing
  kPromote,       // the hold is over and the canary is healthy
  kRollback,      // a rule fired (Verdict::rule says which)
  kInconclusive,  // the hold is over and the data cannot tell (see ResolveHoldEnd)
};
std::string_view DecisionName(Decision d);  // "continue", "promote", ...

enum class Rule {
  kNone,
  kHealthChecks,
  kErrorRate,
  kP99Latency,
  kErrorRateVsBaseline,
  kLatencyVsBaseline,
  kMetricsUnavailable,
  kTooFewRequests,
};
std::string_view RuleName(Rule r);  // "health_checks", "error_rate", ...

// A Prometheus-style "for" rule's state at one evaluation.
struct ForRuleNumbers {
  double value = 0;    // this evaluation's value (fraction; seconds); NaN when undefined
  bool above = false;  // value > threshold
  std::optional<TimePoint> pending_since;  // first evaluation of the current run above
  bool fired = false;
};

struct ComparisonNumbers {
  bool enabled = false;
  // Latency only: both groups report histograms with the same buckets.
  bool available = false;
  bool rejected = false;
  double p_value = 1;     // always-valid
  double e_relative = 1;  // current e-values of the two margin lines
  double e_absolute = 1;
  Counts canary;  // blocks the test has seen: failed (slow) of requests
  Counts baseline;
  double threshold_seconds = 0;  // latency: the bound "slow" is above, this tick; NaN: none yet
};

struct GroupNumbers {
  Counts requests;                    // failed of requests since the start
  Counts window;                      // failed of requests in the last rate_window
  uint64_t latency_observations = 0;  // since the start
};

// Every number behind a verdict; Verdict::Json() writes them all.
struct VerdictNumbers {
  TimePoint started_at;
  TimePoint hold_ends_at;
  GroupNumbers canary;
  GroupNumbers baseline;
  uint64_t canary_window_latency_observations = 0;
  int health_check_failures = 0;  // the canary replica with the most consecutive failures
  std::string health_check_replica;
  ForRuleNumbers error_rate;   // value: the canary's window error rate
  ForRuleNumbers p99_latency;  // value: the canary's window P99, seconds
  ComparisonNumbers error_comparison;
  ComparisonNumbers latency_comparison;
  int failed_scrapes = 0;  // consecutive, up to this evaluation
  std::optional<TimePoint> last_good_scrape;
  std::string source_error;  // the last failed scrape's error while failing, else ""
};

// The thresholds a verdict was judged against (copied from the config, so a
// verdict explains itself).
struct VerdictLimits {
  Duration hold{};
  int health_check_failures = 0;
  double error_rate = 0;
  Duration error_rate_for{};
  double p99_seconds = 0;
  Duration p99_for{};
  Duration rate_window{};
  uint64_t min_requests = 0;
  bool require_latency = true;
  Duration max_source_outage{};
  double latency_quantile = 0;
  double alpha = 0;  // max_false_rollback_rate
};

struct Verdict {
  TimePoint at;  // the evaluation's time
  Decision decision = Decision::kContinue;
  // What decided: the rule that fired (kRollback), the reason (kInconclusive),
  // or for kContinue a pending rule or an outage (kNone when nothing is).
  Rule rule = Rule::kNone;
  bool final = false;  // stays until ExtendHold (never for kRollback)
  VerdictLimits limits;
  VerdictNumbers numbers;

  // A sentence for an operator, e.g. "rolled back: canary error rate 18.2 %
  // vs baseline 0.4 %, 1,204 requests, p < 0.001".
  std::string Message() const;
  // {"at", "decision", "rule", "final", "message", and every number}, for events.
  nlohmann::json Json() const;
};

// The state of one analysis. Not thread-safe; copyable (a copy is a fork).
class CanaryAnalysis {
 public:
  // The analysis of a hold that starts at `started_at`. InvalidArgument when
  // ValidateConfig fails.
  static absl::StatusOr<CanaryAnalysis> Create(const AnalysisConfig& config, TimePoint started_at);

  // Takes in one observation and evaluates at observation.at. The first
  // good observation is the reference the next ones are differenced against.
  // An invalid observation (malformed histogram, time not after the previous
  // observation's) counts as a failed scrape.
  const Verdict& Observe(const Observation& observation);
  // A failed scrape at `at`.
  const Verdict& ObserveError(const absl::Status& error, TimePoint at);
  // Lengthens the hold by `more` (> 0), keeping every window and test: for
  // InconclusiveAction::kExtend, or to analyse the next canary step with the
  // evidence so far (the tests stay valid). Reopens a final Promote or
  // Inconclusive; FailedPrecondition after a Rollback.
  absl::Status ExtendHold(Duration more);

  const Verdict& verdict() const { return verdict_; }
  const AnalysisConfig& config() const { return config_; }
  TimePoint started_at() const { return started_at_; }
  TimePoint hold_ends_at() const { return hold_ends_at_; }
  int extensions() const { return extensions_; }

 private:
  // One scrape's increase for both groups. Histograms are in cumulative
  // form (a difference of cumulative histograms); empty when unavailable.
  struct Block {
    TimePoint at;
    Counts canary;
    Counts baseline;
    std::vector<uint64_t> canary_latency;
    std::vector<uint64_t> baseline_latency;
  };
  // Sums of the blocks whose time lies in (now - length, now].
  struct Window {
    Duration length{};
    uint64_t first = 0;  // sequence number of its oldest block
    Counts canary;
    Counts baseline;
    std::vector<uint64_t> canary_latency;
    std::vector<uint64_t> baseline_latency;
  };
  // The previous cumulative values of one series.
  struct Cumulative {
    uint64_t requests = 0;
    uint64_t responses_5xx = 0;
    uint64_t connection_errors = 0;
    uint64_t timeouts = 0;
    std::vector<double> bounds;
    std::vector<uint64_t> counts;
  };
  // The previous values of one group's series, and the group's buckets.
  struct GroupState {
    std::map<std::string, Cumulative> series;
    std::vector<double> layout;  // empty: no histogram
  };
  enum class Group { kCanary, kBaseline };

  CanaryAnalysis(const AnalysisConfig& config, TimePoint started_at);

  // Difference of `now` against `prev` (then prev = now), series by series:
  // request counts, and the latency increase in `latency` (empty when there
  // is none).
  Counts Difference(Group group, const MetricSample& now, GroupState& prev,
                    std::vector<uint64_t>& latency);
  void ClearLatency(Group group);
  Block& Push();
  static void Add(Window& w, const Block& b);
  void Evict(Window& w, TimePoint now);
  void UpdateLatencyTest(const Block& block);
  void EvaluateHealth(const Observation& observation);
  void EvaluateWindowRules(TimePoint at);
  // The verdict at `at` after a good observation (good == true) or a failed
  // scrape; `fired` is the first rule that fired, kNone if none.
  const Verdict& Decide(TimePoint at, Rule fired, bool good);

  AnalysisConfig config_;
  TimePoint started_at_;
  TimePoint hold_ends_at_;
  int extensions_ = 0;

  bool have_reference_ = false;
  TimePoint last_at_;
  GroupState prev_canary_;
  GroupState prev_baseline_;

  std::vector<Block> ring_;  // block with sequence s at ring_[s % ring_.size()]
  uint64_t head_ = 0;        // oldest kept sequence number
  uint64_t tail_ = 0;        // next sequence number
  Window rate_;
  Window estimate_;

  Block scratch_;  // the block being built; swapped into the ring

  BinomialComparison error_test_;
  BinomialComparison latency_test_;

  VerdictNumbers numbers_;  // running; copied into verdict_ unless it is final
  Verdict verdict_;
};

// What the caller does at the end of a hold.
enum class HoldEndAction {
  kContinue,  // the hold is not over (verdict kContinue)
  kPromote,
  kRollback,
  kExtend,  // call ExtendHold(hold) once
  kPause,   // hold the canary at its weight for a human
};
std::string_view HoldEndActionName(HoldEndAction a);

// Maps a verdict and the spec's InconclusiveAction to what to do: Promote and
// Rollback as they are; Inconclusive by `action`: kFail rolls back, kPause
// pauses, kExtend extends when `extensions_so_far` is 0 and rolls back after
// that ("extend once; then fail"). Continue stays Continue.
HoldEndAction ResolveHoldEnd(const Verdict& verdict, spec::InconclusiveAction action,
                             int extensions_so_far);

}  // namespace hut::analysis

#endif  // HUT_ANALYSIS_ANALYSIS_H_
