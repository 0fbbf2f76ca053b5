#include "src/analysis/analysis.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "src/analysis/analyzer.h"
#include "testing/fake_clock.h"

namespace hut::analysis {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

// A source whose cumulative counters the test moves by hand.
class ScriptedSource : public MetricsSource {
 public:
  absl::StatusOr<Observation> Scrape(TimePoint now) override {
    ++scrapes;
    if (!error.ok()) return error;
    Observation o = state;
    o.at = now;
    return o;
  }
  Observation state;
  absl::Status error;
  int scrapes = 0;
};

// The ADR's rules alone: no comparison with the baseline, no latency needed.
AnalysisConfig TriggersOnly() {
  AnalysisConfig c;
  c.options.compare_error_rate = false;
  c.options.compare_latency = false;
  c.options.require_latency = false;
  return c;
}

class AnalysisTest : public ::testing::Test {
 protected:
  AnalysisTest() {
    // One replica per group, there from the reference scrape on.
    Canary();
    Baseline();
  }
  SeriesSample& Canary(const std::string& replica = "canary-1") {
    return source_.state.canary.series[replica];
  }
  SeriesSample& Baseline() { return source_.state.baseline.series["stable-1"]; }
  void Start(const AnalysisConfig& config) {
    absl::StatusOr<std::unique_ptr<Analyzer>> a = Analyzer::Start(config, source_, clock_);
    ASSERT_TRUE(a.ok()) << a.status();
    analyzer_ = *std::move(a);
    // The reference scrape at the start.
    Tick(Duration(0));
  }
  // Traffic served since the last scrape.
  void Serve(uint64_t canary_requests, uint64_t canary_failed, uint64_t baseline_requests = 0,
             uint64_t baseline_failed = 0) {
    Canary().requests += canary_requests;
    Canary().responses_5xx += canary_failed;
    Baseline().requests += baseline_requests;
    Baseline().responses_5xx += baseline_failed;
  }
  const Verdict& Tick(Duration advance = seconds(1)) {
    clock_.Advance(advance);
    return analyzer_->Tick();
  }
  // Serves the same traffic every second for `n` seconds; the last verdict.
  const Verdict& Steady(int n, uint64_t requests, uint64_t failed) {
    for (int i = 0; i < n - 1; ++i) {
      Serve(requests, failed);
      const Verdict& v = Tick();
      EXPECT_EQ(v.decision, Decision::kContinue) << v.Message();
    }
    Serve(requests, failed);
    return Tick();
  }
  TimePoint Since(Duration d) const { return start_ + d; }

  hut::testing::FakeClock clock_;
  const TimePoint start_ = clock_.Now();
  ScriptedSource source_;
  std::unique_ptr<Analyzer> analyzer_;
};

// ---------------------------------------------------------------- error rate

TEST_F(AnalysisTest, ErrorRateOfExactlyFivePercentNeverFires) {
  Start(TriggersOnly());
  // 5 of 100 every second: the window's rate is exactly 0.05, not above.
  const Verdict& v = Steady(200, 100, 5);
  EXPECT_EQ(v.decision, Decision::kContinue) << v.Message();
  EXPECT_DOUBLE_EQ(v.numbers.error_rate.value, 0.05);
  EXPECT_FALSE(v.numbers.error_rate.above);
  EXPECT_FALSE(v.numbers.error_rate.pending_since);
}

TEST_F(AnalysisTest, ErrorRateJustAboveFivePercentFiresAfterTwoMinutes) {
  Start(TriggersOnly());
  // 501 of 10,000: 5.01 %.
  const Verdict& pending = Steady(120, 10000, 501);  // above since t=1s, now t=120s
  EXPECT_EQ(pending.decision, Decision::kContinue);
  EXPECT_EQ(pending.rule, Rule::kErrorRate);
  EXPECT_EQ(pending.numbers.error_rate.pending_since, Since(seconds(1)));
  Serve(10000, 501);
  const Verdict& v = Tick();  // t=121s: above at every evaluation for 2m0s
  EXPECT_EQ(v.decision, Decision::kRollback) << v.Message();
  EXPECT_EQ(v.rule, Rule::kErrorRate);
  EXPECT_THAT(v.Message(),
              HasSubstr("canary error rate above 5.0 % for 2m: 5.0 % over the last 30s"));
}

TEST_F(AnalysisTest, ErrorRateAboveForOneFiftyNineDoesNotFireButTwoMinutesDoes) {
  Start(TriggersOnly());
  Serve(100, 10);
  const Verdict first = Tick();  // t=1s: 10 % > 5 %: pending (a copy: Tick reuses its verdict)
  EXPECT_EQ(first.numbers.error_rate.pending_since, Since(seconds(1)));
  // 1m59s later.
  for (int i = 0; i < 118; ++i) {
    Serve(100, 10);
    Tick();
  }
  Serve(100, 10);
  const Verdict& at_1_59 = Tick();
  EXPECT_EQ(at_1_59.at - first.at, seconds(119));
  EXPECT_EQ(at_1_59.decision, Decision::kContinue) << at_1_59.Message();
  EXPECT_EQ(at_1_59.rule, Rule::kErrorRate);
  Serve(100, 10);
  const Verdict& at_2_00 = Tick();
  EXPECT_EQ(at_2_00.at - first.at, seconds(120));
  EXPECT_EQ(at_2_00.decision, Decision::kRollback) << at_2_00.Message();
  EXPECT_EQ(at_2_00.rule, Rule::kErrorRate);
}

TEST_F(AnalysisTest, OneEvaluationAtOrBelowResetsTheForDuration) {
  AnalysisConfig c = TriggersOnly();
  c.options.rate_window = seconds(1);  // each evaluation sees one second
  Start(c);
  for (int i = 0; i < 100; ++i) {  // t=1..100s above
    Serve(100, 10);
    ASSERT_EQ(Tick().decision, Decision::kContinue);
  }
  Serve(100, 5);  // t=101s: exactly 5 %: resets
  const Verdict& reset = Tick();
  EXPECT_FALSE(reset.numbers.error_rate.pending_since);
  EXPECT_EQ(reset.rule, Rule::kNone);
  // Above again from t=102s: fires at t=222s, not at t=121s.
  for (int i = 0; i < 120; ++i) {
    Serve(100, 10);
    const Verdict& v = Tick();
    ASSERT_EQ(v.decision, Decision::kContinue) << "t=" << 102 + i << "s " << v.Message();
  }
  Serve(100, 10);
  EXPECT_EQ(Tick().decision, Decision::kRollback);
}

TEST_F(AnalysisTest, ErrorRateIsOverTheSlidingWindow) {
  Start(TriggersOnly());
  Steady(30, 100, 0);  // 30 s clean: 3,000 requests in the window
  Serve(100, 100);     // one bad second: 100 of 3,000 in the window = 3.3 %
  const Verdict& v = Tick();
  EXPECT_NEAR(v.numbers.error_rate.value, 100.0 / 3000, 1e-12);
  EXPECT_FALSE(v.numbers.error_rate.above);
  EXPECT_EQ(v.numbers.canary.window.trials, 3000u);
}

TEST_F(AnalysisTest, FailedConnectionsCountEvenWhenRequestsDoNot) {
  // A source whose request counter leaves out connections that failed: a
  // crashed canary has 0 answered requests and 30 connection errors.
  AnalysisConfig c = TriggersOnly();
  c.rollback.error_rate.for_ = Duration(0);
  Start(c);
  Canary().connection_errors += 20;
  Canary().timeouts += 10;
  const Verdict& v = Tick();
  EXPECT_EQ(v.numbers.canary.requests.trials, 30u);
  EXPECT_DOUBLE_EQ(v.numbers.error_rate.value, 1.0);
  EXPECT_EQ(v.decision, Decision::kRollback);
}

// ---------------------------------------------------------------- health checks

TEST_F(AnalysisTest, TwoConsecutiveHealthFailuresContinueThreeRollBack) {
  Start(TriggersOnly());
  source_.state.canary.health_check_failures = {{"canary-1", 0}, {"canary-2", 2}};
  source_.state.baseline.health_check_failures = {{"stable-1", 9}};  // not the canary's
  const Verdict& two = Tick();
  EXPECT_EQ(two.decision, Decision::kContinue);
  EXPECT_EQ(two.numbers.health_check_failures, 2);
  source_.state.canary.health_check_failures["canary-2"] = 3;
  const Verdict& three = Tick();
  EXPECT_EQ(three.decision, Decision::kRollback);
  EXPECT_EQ(three.rule, Rule::kHealthChecks);
  EXPECT_EQ(three.Message(),
            "rolled back: canary replica canary-2 failed 3 consecutive health checks (limit 3)");
}

// ---------------------------------------------------------------- P99

class P99Test : public AnalysisTest {
 protected:
  // Adds `n` requests per bucket of le = {0.5, 1, 2, 2.5, +Inf}.
  void ServeLatency(std::vector<uint64_t> per_bucket) {
    LatencyHistogram& h = Canary().latency;
    if (h.Empty()) {
      h.upper_bounds = {0.5, 1, 2, 2.5, kInf};
      h.cumulative_counts.assign(5, 0);
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < per_bucket.size(); ++i) {
      sum += per_bucket[i];
      h.cumulative_counts[i] += sum;
    }
    Canary().requests += sum;
  }
  void SetUp() override {
    // The histogram exists from the reference scrape on.
    ServeLatency({0, 0, 0, 0, 0});
  }
};

TEST_F(P99Test, ExactlyTwoSecondsDoesNotFire) {
  Start(TriggersOnly());
  ServeLatency({900, 89, 1, 10, 0});  // cum(2) = 990 of 1000: P99 = 2.0
  const Verdict& v = Tick();
  EXPECT_DOUBLE_EQ(v.numbers.p99_latency.value, 2.0);
  EXPECT_EQ(v.decision, Decision::kContinue);
}

TEST_F(P99Test, JustUnderTwoSecondsDoesNotFire) {
  Start(TriggersOnly());
  ServeLatency({800, 100, 91, 9, 0});  // 1 + 90/91 = 1.989 s
  const Verdict& v = Tick();
  EXPECT_NEAR(v.numbers.p99_latency.value, 1 + 90.0 / 91, 1e-12);
  EXPECT_EQ(v.decision, Decision::kContinue);
}

TEST_F(P99Test, JustOverTwoSecondsFiresAtOnce) {
  Start(TriggersOnly());
  ServeLatency({900, 89, 0, 11, 0});  // 2 + 0.5/11 = 2.045 s
  const Verdict& v = Tick();
  EXPECT_NEAR(v.numbers.p99_latency.value, 2 + 0.5 / 11, 1e-12);
  EXPECT_EQ(v.decision, Decision::kRollback);
  EXPECT_EQ(v.rule, Rule::kP99Latency);
  EXPECT_EQ(v.Message(),
            "rolled back: canary P99 latency 2.05 s above 2 s over the last 30s (1,000 requests)");
}

TEST_F(P99Test, ForDurationFromTheSpec) {
  AnalysisConfig c = TriggersOnly();
  c.rollback.p99_latency.for_ = seconds(10);
  Start(c);
  for (int i = 0; i < 10; ++i) {  // t=1..10s above: pending since 1s
    ServeLatency({900, 89, 0, 11, 0});
    ASSERT_EQ(Tick().decision, Decision::kContinue);
  }
  ServeLatency({900, 89, 0, 11, 0});
  EXPECT_EQ(Tick().decision, Decision::kRollback);  // t=11s
}

TEST_F(P99Test, TooFewObservationsInTheWindowAreNotJudged) {
  Start(TriggersOnly());
  ServeLatency({90, 0, 0, 9, 0});  // 99 observations, P99 would be 2.5 s
  const Verdict& v = Tick();
  EXPECT_TRUE(std::isnan(v.numbers.p99_latency.value));
  EXPECT_EQ(v.decision, Decision::kContinue);
  ServeLatency({1, 0, 0, 0, 0});  // now 100
  EXPECT_EQ(Tick().decision, Decision::kRollback);
}

// ---------------------------------------------------------------- hold end

TEST_F(AnalysisTest, NoTrafficAtAllIsInconclusiveNeverPromote) {
  Start(TriggersOnly());
  const Verdict* v = nullptr;
  for (int i = 0; i < 300; ++i) {
    v = &Tick();
    if (i < 299) {
      ASSERT_EQ(v->decision, Decision::kContinue) << i;
    }
  }
  EXPECT_EQ(v->at, Since(minutes(5)));
  EXPECT_EQ(v->decision, Decision::kInconclusive);
  EXPECT_EQ(v->rule, Rule::kTooFewRequests);
  EXPECT_TRUE(v->final);
  EXPECT_EQ(v->Message(),
            "inconclusive: the canary had 0 requests in 5m of analysis; at least 100 are needed "
            "to judge it");
  EXPECT_TRUE(std::isnan(v->numbers.error_rate.value));
  EXPECT_EQ(ResolveHoldEnd(*v, spec::InconclusiveAction::kFail, 0), HoldEndAction::kRollback);
  EXPECT_EQ(ResolveHoldEnd(*v, spec::InconclusiveAction::kPause, 0), HoldEndAction::kPause);
  EXPECT_EQ(ResolveHoldEnd(*v, spec::InconclusiveAction::kExtend, 0), HoldEndAction::kExtend);
  EXPECT_EQ(ResolveHoldEnd(*v, spec::InconclusiveAction::kExtend, 1), HoldEndAction::kRollback);
}

TEST_F(AnalysisTest, NinetyNineRequestsAreInconclusiveAHundredPromote) {
  Start(TriggersOnly());
  Serve(99, 0);
  Tick(minutes(5));
  EXPECT_EQ(analyzer_->verdict().decision, Decision::kInconclusive);
  // Extend once: one more request makes 100.
  ASSERT_TRUE(analyzer_->ExtendHold(minutes(5)).ok());
  EXPECT_EQ(analyzer_->verdict().decision, Decision::kContinue);
  Serve(1, 0);
  EXPECT_EQ(Tick(minutes(4)).decision, Decision::kContinue);
  const Verdict& v = Tick(minutes(1));
  EXPECT_EQ(v.decision, Decision::kPromote) << v.Message();
  EXPECT_EQ(v.numbers.canary.requests.trials, 100u);
  EXPECT_EQ(ResolveHoldEnd(v, spec::InconclusiveAction::kExtend, 1), HoldEndAction::kPromote);
}

TEST_F(AnalysisTest, PromoteNeedsLatencyObservationsWhenRequired) {
  AnalysisConfig c = TriggersOnly();
  c.options.require_latency = true;
  Start(c);
  Serve(1000, 0);  // requests, but no histogram
  const Verdict& v = Tick(minutes(5));
  EXPECT_EQ(v.decision, Decision::kInconclusive);
  EXPECT_THAT(v.Message(), HasSubstr("the canary had 0 latency observations"));
}

TEST_F(AnalysisTest, PendingRuleAtHoldEndWaitsForItsOutcome) {
  Start(TriggersOnly());
  Steady(240, 100, 0);
  const Verdict& pending = Steady(60, 100, 10);  // t=300s: above since 241s
  EXPECT_EQ(pending.at, Since(minutes(5)));
  EXPECT_EQ(pending.decision, Decision::kContinue);
  EXPECT_EQ(pending.rule, Rule::kErrorRate);
  EXPECT_THAT(pending.Message(), HasSubstr("hold over after 5m, waiting; canary error rate"));
  // Clears: promote at the first clean window.
  const Verdict* v = &pending;
  for (int i = 0; i < 40 && v->decision == Decision::kContinue; ++i) {
    Serve(100, 0);
    v = &Tick();
  }
  EXPECT_EQ(v->decision, Decision::kPromote) << v->Message();
}

TEST_F(AnalysisTest, VerdictsAreFinalUntilExtended) {
  Start(TriggersOnly());
  Serve(500, 0);
  const Verdict& promoted = Tick(minutes(5));
  ASSERT_EQ(promoted.decision, Decision::kPromote);
  const TimePoint at = promoted.at;
  Serve(500, 500);  // whatever happens next, the verdict stays
  EXPECT_EQ(Tick().at, at);
  EXPECT_EQ(analyzer_->verdict().decision, Decision::kPromote);

  // A rollback cannot be reopened.
  AnalysisConfig c = TriggersOnly();
  c.rollback.error_rate.for_ = Duration(0);
  absl::StatusOr<CanaryAnalysis> a = CanaryAnalysis::Create(c, start_);
  ASSERT_TRUE(a.ok());
  Observation o;
  o.at = start_;
  o.canary.series["c"] = {};
  a->Observe(o);
  o.at += seconds(1);
  o.canary.series["c"].requests = 10;
  o.canary.series["c"].responses_5xx = 10;
  ASSERT_EQ(a->Observe(o).decision, Decision::kRollback);
  EXPECT_EQ(a->ExtendHold(minutes(5)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a->ExtendHold(Duration(0)).code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------- the source

TEST_F(AnalysisTest, SourceErrorsContinueForFiftyNineSecondsThenRollBack) {
  Start(TriggersOnly());  // last good scrape at t=0
  source_.error = absl::UnavailableError("stats socket: connection refused");
  for (int i = 1; i <= 59; ++i) {
    const Verdict& v = Tick();
    ASSERT_EQ(v.decision, Decision::kContinue) << "t=" << i << "s";
    ASSERT_EQ(v.rule, Rule::kMetricsUnavailable);
  }
  EXPECT_EQ(analyzer_->verdict().numbers.failed_scrapes, 59);
  const Verdict& v = Tick();  // t=60s: 60 s without metrics
  EXPECT_EQ(v.decision, Decision::kRollback);
  EXPECT_EQ(v.rule, Rule::kMetricsUnavailable);
  EXPECT_EQ(v.Message(),
            "rolled back: no metrics for 1m (60 failed scrapes; limit 1m): UNAVAILABLE: stats "
            "socket: connection refused");
}

TEST_F(AnalysisTest, SourceThatRecoversKeepsGoing) {
  Start(TriggersOnly());
  source_.error = absl::DeadlineExceededError("timeout");
  for (int i = 0; i < 50; ++i) Tick();
  source_.error = absl::OkStatus();
  Serve(100, 0);
  const Verdict& v = Tick();
  EXPECT_EQ(v.decision, Decision::kContinue);
  EXPECT_EQ(v.rule, Rule::kNone);
  EXPECT_EQ(v.numbers.failed_scrapes, 0);
  // The outage counts from the last good scrape again.
  source_.error = absl::DeadlineExceededError("timeout");
  for (int i = 0; i < 59; ++i) ASSERT_EQ(Tick().decision, Decision::kContinue);
  EXPECT_EQ(Tick().decision, Decision::kRollback);
}

TEST_F(AnalysisTest, NeverPromotesDuringAnOutage) {
  Start(TriggersOnly());
  Serve(1000, 0);
  Tick(minutes(4) + seconds(50));
  source_.error = absl::UnavailableError("down");
  for (int i = 0; i < 59; ++i) {  // the hold ends at 5m, inside the outage
    const Verdict& v = Tick();
    ASSERT_EQ(v.decision, Decision::kContinue);
  }
  EXPECT_THAT(analyzer_->verdict().Message(), HasSubstr("hold over after 5m, waiting; metrics"));
  EXPECT_EQ(Tick().decision, Decision::kRollback);
}

TEST_F(AnalysisTest, SourceFailingFromTheStartCountsFromTheStart) {
  source_.error = absl::UnavailableError("down");
  Start(TriggersOnly());  // the reference scrape fails too
  for (int i = 1; i < 60; ++i) ASSERT_EQ(Tick().decision, Decision::kContinue);
  EXPECT_EQ(Tick().decision, Decision::kRollback);
}

TEST_F(AnalysisTest, MalformedObservationIsAFailedScrape) {
  Start(TriggersOnly());
  Canary().latency = {{0.1, 0.2}, {1, 2}};  // no +Inf
  const Verdict& v = Tick();
  EXPECT_EQ(v.rule, Rule::kMetricsUnavailable);
  EXPECT_THAT(v.numbers.source_error,
              HasSubstr("canary series canary-1 latency: histogram's last bound is not +Inf"));
}

TEST_F(AnalysisTest, ObservationNotAfterThePreviousIsAFailedScrape) {
  absl::StatusOr<CanaryAnalysis> a = CanaryAnalysis::Create(TriggersOnly(), start_);
  ASSERT_TRUE(a.ok());
  Observation o;
  o.at = start_ + seconds(5);
  a->Observe(o);
  o.at = start_ + seconds(5);
  const Verdict& v = a->Observe(o);
  EXPECT_EQ(v.numbers.failed_scrapes, 1);
  EXPECT_THAT(v.numbers.source_error, HasSubstr("is not after the previous one"));
}

// ---------------------------------------------------------------- counter resets

TEST_F(AnalysisTest, CounterResetTakesTheNewValueAsTheIncrease) {
  Start(TriggersOnly());
  Serve(1000, 10);
  Tick();
  EXPECT_EQ(analyzer_->verdict().numbers.canary.requests.trials, 1000u);
  // The canary restarted: its counters start again from 0 and reach 50 / 1.
  Canary().requests = 50;
  Canary().responses_5xx = 1;
  const Verdict& v = Tick();
  EXPECT_EQ(v.numbers.canary.requests.trials, 1050u);
  EXPECT_EQ(v.numbers.canary.requests.events, 11u);
  EXPECT_EQ(v.numbers.canary.window.trials, 1050u);
  Serve(100, 0);  // and goes on from there
  EXPECT_EQ(Tick().numbers.canary.requests.trials, 1150u);
}

TEST_F(P99Test, HistogramResetTakesTheNewHistogramAsTheIncrease) {
  Start(TriggersOnly());
  ServeLatency({1000, 0, 0, 0, 0});
  Tick();
  // Restart: the histogram starts again, now with 200 slow requests.
  Canary().latency.cumulative_counts = {0, 0, 0, 200, 200};
  const Verdict& v = Tick();
  EXPECT_EQ(v.numbers.canary.latency_observations, 1200u);
  EXPECT_EQ(v.numbers.canary_window_latency_observations, 1200u);
  // 200 of 1200 above 2 s in the window: P99 in (2, 2.5].
  EXPECT_GT(v.numbers.p99_latency.value, 2.0);
}

TEST_F(P99Test, NewBucketLayoutStartsAFreshReference) {
  Start(TriggersOnly());
  ServeLatency({1000, 0, 0, 0, 0});
  Tick();
  Canary().latency = {{0.1, 1, kInf}, {5000, 5000, 5000}};  // other buckets
  const Verdict& v = Tick();
  EXPECT_EQ(v.numbers.canary.latency_observations, 1000u);  // the new series is a reference
  EXPECT_EQ(v.numbers.canary_window_latency_observations, 0u);
  Canary().latency.cumulative_counts = {5100, 5100, 5100};
  EXPECT_EQ(Tick().numbers.canary_window_latency_observations, 100u);
}

TEST_F(AnalysisTest, OneReplicaRestartingIsOnlyThatReplicasReset) {
  Canary("canary-2");
  Start(TriggersOnly());
  Canary("canary-1").requests += 1000;
  Canary("canary-2").requests += 1000;
  EXPECT_EQ(Tick().numbers.canary.requests.trials, 2000u);
  // canary-2 restarts (its counter starts again and reaches 10); canary-1
  // serves 100 more. The group's sum fell, but only canary-2 restarted.
  Canary("canary-1").requests += 100;
  Canary("canary-2").requests = 10;
  EXPECT_EQ(Tick().numbers.canary.requests.trials, 2110u);
}

TEST_F(AnalysisTest, NewSeriesIsAReferenceOnly) {
  Start(TriggersOnly());
  Serve(100, 0);
  Tick();
  // A replica that joins with a long history: only what it serves from now
  // on counts.
  Canary("canary-3").requests = 5000;
  Canary("canary-3").responses_5xx = 4000;
  const Verdict& joined = Tick();
  EXPECT_EQ(joined.numbers.canary.requests.trials, 100u);
  EXPECT_EQ(joined.numbers.canary.requests.events, 0u);
  Canary("canary-3").requests += 10;
  EXPECT_EQ(Tick().numbers.canary.requests.trials, 110u);
}

TEST_F(P99Test, SeriesWithOtherBucketsIsLeftOutOfLatency) {
  Canary("canary-2").latency = {{0.1, kInf}, {0, 0}};  // not the group's buckets
  Start(TriggersOnly());
  ServeLatency({100, 0, 0, 0, 0});
  Canary("canary-2").latency.cumulative_counts = {50, 50};
  Canary("canary-2").requests += 50;
  const Verdict& v = Tick();
  EXPECT_EQ(v.numbers.canary.requests.trials, 150u);
  EXPECT_EQ(v.numbers.canary.latency_observations, 100u);
}

// ---------------------------------------------------------------- comparison

TEST_F(AnalysisTest, ClearlyWorseCanaryIsRolledBackByTheComparisonWithNumbers) {
  AnalysisConfig c;
  c.options.compare_latency = false;
  Start(c);
  const Verdict* v = nullptr;
  for (int i = 0; i < 10; ++i) {
    // 30 vs 270 requests a second: 6 (20 %) vs 1 (0.4 %) failed.
    Serve(30, 6, 270, 1);
    v = &Tick();
    if (v->decision != Decision::kContinue) break;
  }
  ASSERT_EQ(v->decision, Decision::kRollback) << v->Message();
  EXPECT_EQ(v->rule, Rule::kErrorRateVsBaseline);
  EXPECT_LE(v->at - start_, seconds(3));
  EXPECT_THAT(v->Message(), ::testing::MatchesRegex(
                                "rolled back: canary error rate 20\\.0 % vs baseline 0\\.4 %, "
                                "[0-9,]+ requests, p < 0\\.001"));
  nlohmann::json j = v->Json();
  EXPECT_EQ(j["decision"], "rollback");
  EXPECT_EQ(j["rule"], "error_rate_vs_baseline");
  EXPECT_TRUE(j["error_rate_vs_baseline"]["rejected"].get<bool>());
  EXPECT_LT(j["error_rate_vs_baseline"]["p_value"].get<double>(), 0.005);
  EXPECT_EQ(j["canary"]["failed"].get<uint64_t>(), v->numbers.canary.requests.events);
  EXPECT_EQ(j["message"], v->Message());
}

TEST_F(AnalysisTest, EqualCanaryIsNotRolledBackByTheComparison) {
  AnalysisConfig c;
  c.options.compare_latency = false;
  c.options.require_latency = false;
  Start(c);
  const Verdict& v = [&]() -> const Verdict& {
    for (int i = 0; i < 299; ++i) {
      Serve(30, i % 7 == 0 ? 1 : 0, 270, i % 3 == 0 ? 2 : 1);  // ~0.5 % both
      Tick();
    }
    Serve(30, 0, 270, 1);
    return Tick();
  }();
  EXPECT_EQ(v.decision, Decision::kPromote) << v.Message();
  EXPECT_GT(v.numbers.error_comparison.p_value, 0.1);
  EXPECT_THAT(v.Message(),
              HasSubstr("promote: no rule fired in 5m of analysis; canary error rate"));
}

TEST(ConfigTest, MakeConfigTakesTheSpecsNumbers) {
  spec::CanaryPolicy canary;
  canary.max_false_rollback_rate = 0.02;
  canary.inconclusive = spec::InconclusiveAction::kPause;
  spec::RollbackPolicy rollback;
  rollback.error_rate.threshold = 0.1;
  AnalysisConfig c = MakeConfig(canary, rollback, minutes(3));
  EXPECT_EQ(c.hold, minutes(3));
  EXPECT_EQ(c.rollback.error_rate.threshold, 0.1);
  EXPECT_EQ(c.max_false_rollback_rate, 0.02);
  EXPECT_EQ(c.inconclusive, spec::InconclusiveAction::kPause);
  EXPECT_TRUE(ValidateConfig(c).ok());
}

TEST(ConfigTest, RejectsOutOfRangeFields) {
  AnalysisConfig c;
  c.max_false_rollback_rate = 0;
  EXPECT_THAT(std::string(ValidateConfig(c).message()), HasSubstr("max_false_rollback_rate"));
  c = AnalysisConfig();
  c.options.rate_window = Duration(0);
  EXPECT_FALSE(CanaryAnalysis::Create(c, TimePoint()).ok());
  c = AnalysisConfig();
  c.rollback.error_rate.threshold = 1.5;
  EXPECT_FALSE(ValidateConfig(c).ok());
}

}  // namespace
}  // namespace hut::analysis
