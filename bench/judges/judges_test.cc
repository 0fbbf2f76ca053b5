#include "bench/judges/judges.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

namespace hut::analysis {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr double kInf = std::numeric_limits<double>::infinity();
const TimePoint kStart(seconds(1767225600));
const std::vector<double> kBounds = {0.1, 0.5, 1, 2, 2.5, kInf};

// Cumulative counters of one canary and one baseline series, moved by hand.
class Traffic {
 public:
  Traffic() {
    for (SeriesSample* s : {&Canary(), &Baseline()}) {
      s->latency.upper_bounds = kBounds;
      s->latency.cumulative_counts.assign(kBounds.size(), 0);
    }
    o_.canary.health_check_failures["canary-1"] = 0;
    o_.baseline.health_check_failures["baseline-1"] = 0;
  }
  SeriesSample& Canary() { return o_.canary.series["canary"]; }
  SeriesSample& Baseline() { return o_.baseline.series["baseline"]; }
  // `n` more requests to `s`, `failed` of them failed, each taking `latency`
  // seconds.
  static void Serve(SeriesSample& s, uint64_t n, uint64_t failed, double latency = 0.05) {
    s.requests += n;
    s.responses_5xx += failed;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (latency <= kBounds[i]) s.latency.cumulative_counts[i] += n;
    }
  }
  const Observation& At(Duration since_start) {
    o_.at = kStart + since_start;
    return o_;
  }

 private:
  Observation o_;
};

// ------------------------------------------------------------------ Flagger

TEST(FlaggerJudgeTest, RollsBackOnTheTickAfterTheFifthFailedCheckNotTheFourth) {
  FlaggerJudge judge(FlaggerOptions(), kStart);
  Traffic t;
  ASSERT_EQ(judge.Observe(t.At(minutes(0))), Decision::kContinue);  // the reference
  for (int m = 1; m <= 5; ++m) {
    Traffic::Serve(t.Canary(), 600, 60);  // 10 % errors in every minute
    EXPECT_EQ(judge.Observe(t.At(minutes(m))), Decision::kContinue) << m;
    EXPECT_EQ(judge.failed_checks(), m);
  }
  // Four failed checks never roll back; the fifth does, at the next tick,
  // where Flagger compares the counter with the threshold.
  Traffic::Serve(t.Canary(), 600, 60);
  EXPECT_EQ(judge.Observe(t.At(minutes(6))), Decision::kRollback);
  EXPECT_EQ(judge.failed_checks(), 5);
  EXPECT_EQ(judge.Observe(t.At(minutes(7))), Decision::kRollback);  // final
}

TEST(FlaggerJudgeTest, FourFailedChecksDelayPromotionButDoNotRollBack) {
  FlaggerJudge judge(FlaggerOptions(), kStart);
  Traffic t;
  judge.Observe(t.At(minutes(0)));
  for (int m = 1; m <= 4; ++m) {
    Traffic::Serve(t.Canary(), 600, 60);
    ASSERT_EQ(judge.Observe(t.At(minutes(m))), Decision::kContinue);
  }
  // Failed checks do not advance the weight; five passed checks promote.
  for (int m = 5; m <= 8; ++m) {
    Traffic::Serve(t.Canary(), 600, 0);
    ASSERT_EQ(judge.Observe(t.At(minutes(m))), Decision::kContinue) << m;
  }
  Traffic::Serve(t.Canary(), 600, 0);
  EXPECT_EQ(judge.Observe(t.At(minutes(9))), Decision::kPromote);
  EXPECT_EQ(judge.failed_checks(), 4);
  EXPECT_EQ(judge.passed_checks(), 5);
}

TEST(FlaggerJudgeTest, HealthyCanaryIsPromotedAfterFiveChecks) {
  FlaggerJudge judge(FlaggerOptions(), kStart);
  Traffic t;
  judge.Observe(t.At(seconds(0)));
  // One observation a second: checks run only at the minute ticks.
  for (int s = 1; s < 300; ++s) {
    Traffic::Serve(t.Canary(), 10, 0);
    ASSERT_EQ(judge.Observe(t.At(seconds(s))), Decision::kContinue) << s;
    ASSERT_EQ(judge.passed_checks(), s / 60) << s;
  }
  Traffic::Serve(t.Canary(), 10, 0);
  EXPECT_EQ(judge.Observe(t.At(seconds(300))), Decision::kPromote);
}

TEST(FlaggerJudgeTest, ThresholdValuesThemselvesPass) {
  FlaggerJudge judge(FlaggerOptions(), kStart);
  Traffic t;
  judge.Observe(t.At(minutes(0)));
  // 95.0 % success; 99 requests at or under 2 s and one above: the P99 is
  // the bucket bound, 2 s exactly.
  Traffic::Serve(t.Canary(), 99, 5, 2.0);
  Traffic::Serve(t.Canary(), 1, 0, 2.5);
  judge.Observe(t.At(minutes(1)));
  EXPECT_EQ(judge.passed_checks(), 1);
  EXPECT_EQ(judge.failed_checks(), 0);
}

TEST(FlaggerJudgeTest, EachMetricAboveItsThresholdFailsTheCheck) {
  FlaggerJudge judge(FlaggerOptions(), kStart);
  Traffic t;
  judge.Observe(t.At(minutes(0)));
  Traffic::Serve(t.Canary(), 100, 6);  // 94 % success
  judge.Observe(t.At(minutes(1)));
  EXPECT_EQ(judge.failed_checks(), 1);
  Traffic::Serve(t.Canary(), 100, 0, 2.5);  // P99 in (2 s, 2.5 s]
  judge.Observe(t.At(minutes(2)));
  EXPECT_EQ(judge.failed_checks(), 2);
  // No requests: Flagger's query finds no values, which fails the check.
  judge.Observe(t.At(minutes(3)));
  EXPECT_EQ(judge.failed_checks(), 3);
  EXPECT_EQ(judge.passed_checks(), 0);
}

// ------------------------------------------------------------------ ADR, hut

TEST(AdrRuleJudgeTest, IsHutsConfigWithoutTheComparisons) {
  AnalysisConfig adr = AdrRuleConfig();
  EXPECT_FALSE(adr.options.compare_error_rate);
  EXPECT_FALSE(adr.options.compare_latency);
  adr.options.compare_error_rate = true;
  adr.options.compare_latency = true;
  EXPECT_EQ(adr, HutConfig());
  EXPECT_EQ(HutConfig(), AnalysisConfig());
}

TEST(AdrRuleJudgeTest, ErrorsAboveFivePercentFor1m59ContinueFor2m0sRollBack) {
  AnalysisJudge judge = *AnalysisJudge::Create(AdrRuleConfig(), kStart);
  Traffic t;
  judge.Observe(t.At(seconds(0)));
  // 10 % errors in both groups: no comparison would fire; the ADR rule does.
  // Pending from the first evaluation, t = 1 s.
  for (int s = 1; s <= 120; ++s) {
    Traffic::Serve(t.Canary(), 100, 10);
    Traffic::Serve(t.Baseline(), 900, 90);
    ASSERT_EQ(judge.Observe(t.At(seconds(s))), Decision::kContinue) << s;
  }
  EXPECT_EQ(judge.verdict().rule, Rule::kErrorRate);  // pending for 1m59s
  EXPECT_EQ(judge.verdict().numbers.error_rate.pending_since, kStart + seconds(1));
  Traffic::Serve(t.Canary(), 100, 10);
  Traffic::Serve(t.Baseline(), 900, 90);
  EXPECT_EQ(judge.Observe(t.At(seconds(121))), Decision::kRollback);  // 2m0s
  EXPECT_EQ(judge.verdict().rule, Rule::kErrorRate);
}

TEST(HutJudgeTest, ComparesWithTheBaselineInSeconds) {
  AnalysisJudge judge = *AnalysisJudge::Create(HutConfig(), kStart);
  Traffic t;
  judge.Observe(t.At(seconds(0)));
  int s = 1;
  for (; s <= 10; ++s) {
    Traffic::Serve(t.Canary(), 100, 10);   // 10 %
    Traffic::Serve(t.Baseline(), 900, 9);  // 1 %
    if (judge.Observe(t.At(seconds(s))) != Decision::kContinue) break;
  }
  EXPECT_EQ(judge.verdict().decision, Decision::kRollback);
  EXPECT_EQ(judge.verdict().rule, Rule::kErrorRateVsBaseline);
  EXPECT_LE(s, 5);
}

// ------------------------------------------------------------------ Mann-Whitney

// By hand: U counts the pairs x_i > y_j: 19 beats 11, 17, 12 (3); 22 beats
// all four (4); 16 beats 11, 12 (2); 29 and 24 beat all (4 + 4): U = 17, and
// U' = 5 * 4 - 17 = 3. Normal approximation: mean 10, sd sqrt(5*4*10/12) =
// 4.0825, z = (17 - 10 - 0.5) / 4.0825 = 1.5922, two-sided p = 0.1113. The
// 20 pairwise differences sorted: -4 -1 -1 2 2 4 4 5 5 7 7 8 9 10 11 12 12
// 13 17 18; their median (Hodges-Lehmann) is 7.
TEST(MannWhitneyTest, MatchesTheHandComputedExample) {
  const std::vector<double> x = {19, 22, 16, 29, 24};
  const std::vector<double> y = {20, 11, 17, 12};
  MannWhitneyResult r = MannWhitneyTest(x, y, 0.95);
  ASSERT_TRUE(r.ok);
  EXPECT_DOUBLE_EQ(r.u, 17);
  EXPECT_NEAR(r.p_value, 0.11135, 1e-5);
  EXPECT_NEAR(r.estimate, 7, 1e-6);
  EXPECT_LE(r.lower, r.estimate);
  EXPECT_GE(r.upper, r.estimate);
  EXPECT_LT(r.lower, 0);  // not significant: the interval holds 0

  MannWhitneyResult swapped = MannWhitneyTest(y, x, 0.95);
  EXPECT_DOUBLE_EQ(swapped.u, 3);
  EXPECT_NEAR(swapped.p_value, r.p_value, 1e-12);
  EXPECT_NEAR(swapped.estimate, -7, 1e-6);
}

// Ties take the average rank and shrink the variance: x ranks 1, 3, 3, 5.5
// (sum 12.5) among 1 2 2 2 3 3 4, so U = 12.5 - 4*5/2 = 2.5; tie groups of 3
// and 2 give sum(t^3 - t) = 30, sd = sqrt(4*3/12 * (8 - 30/42)) = 2.6992,
// z = (2.5 - 6 + 0.5) / 2.6992 = -1.1114, p = 0.2664.
TEST(MannWhitneyTest, TiesTakeTheAverageRank) {
  MannWhitneyResult r = MannWhitneyTest(std::vector<double>{1, 2, 2, 3},
                                        std::vector<double>{2, 3, 4}, 0.95);
  ASSERT_TRUE(r.ok);
  EXPECT_DOUBLE_EQ(r.u, 2.5);
  EXPECT_NEAR(r.p_value, 0.26638, 1e-5);
}

// With three points a group the 98 % level is out of reach; as in R (and
// Kayenta), the interval is then the range of pairwise differences, here
// [10 - 3, 12 - 1], whose lower end is far above 0.25 x the estimate (9).
TEST(MannWhitneyTest, FewPointsGiveTheRangeOfDifferences) {
  const std::vector<double> canary = {10, 11, 12};
  const std::vector<double> baseline = {1, 2, 3};
  MannWhitneyResult r = MannWhitneyTest(canary, baseline, 0.98);
  ASSERT_TRUE(r.ok);
  EXPECT_DOUBLE_EQ(r.lower, 7);
  EXPECT_DOUBLE_EQ(r.upper, 11);
  EXPECT_NEAR(r.estimate, 9, 1e-6);
  EXPECT_EQ(ClassifyMetric(canary, baseline, KayentaClassifierOptions()), MetricClass::kHigh);
}

TEST(MannWhitneyTest, OnePointEachHasNoInterval) {
  EXPECT_FALSE(MannWhitneyTest(std::vector<double>{0.3}, std::vector<double>{0.1}, 0.98).ok);
  EXPECT_EQ(ClassifyMetric(std::vector<double>{0.3}, std::vector<double>{0.1},
                           KayentaClassifierOptions()),
            MetricClass::kError);
}

TEST(KayentaClassifierTest, PassesWhatIsNotClearlyHigher) {
  const KayentaClassifierOptions options;
  const std::vector<double> baseline = {1, 2, 3, 4, 5};
  EXPECT_EQ(ClassifyMetric(baseline, baseline, options), MetricClass::kPass);
  EXPECT_EQ(ClassifyMetric(std::vector<double>{1.1, 2.1, 3.1, 4.1, 5.1}, baseline, options),
            MetricClass::kPass);
  // Lower, with direction "increase": not a failure.
  EXPECT_EQ(ClassifyMetric(std::vector<double>{-9, -8, -7, -6, -5}, baseline, options),
            MetricClass::kPass);
  KayentaClassifierOptions either = options;
  either.direction = MetricDirection::kEither;
  EXPECT_EQ(ClassifyMetric(std::vector<double>{-9, -8, -7, -6, -5}, baseline, either),
            MetricClass::kLow);
  // Clearly higher, but the mean ratio (1.45) under allowedIncrease 2.
  KayentaClassifierOptions allowed = options;
  allowed.allowed_increase = 2;
  const std::vector<double> higher = {15, 16, 17};
  const std::vector<double> lower = {10, 11, 12};
  EXPECT_EQ(ClassifyMetric(higher, lower, options), MetricClass::kHigh);
  EXPECT_EQ(ClassifyMetric(higher, lower, allowed), MetricClass::kPass);
}

// ------------------------------------------------------------------ Kayenta

// Per minute: the canary at `canary_errors` of 600 requests, the baseline at
// `baseline_errors` of 5,400; both at the same latency.
void ServeMinute(Traffic& t, uint64_t canary_errors, uint64_t baseline_errors) {
  Traffic::Serve(t.Canary(), 600, canary_errors);
  Traffic::Serve(t.Baseline(), 5400, baseline_errors);
}

TEST(KayentaJudgeTest, FirstJudgementAtTwoPointsRollsBackAClearlyWorseCanary) {
  KayentaJudge judge(KayentaOptions(), kStart);
  Traffic t;
  judge.Observe(t.At(minutes(0)));
  ServeMinute(t, 120, 27);  // 20 % vs 0.5 %
  EXPECT_EQ(judge.Observe(t.At(minutes(1))), Decision::kContinue);
  EXPECT_EQ(judge.judgements(), 0);  // one point each: no judgement yet
  ServeMinute(t, 125, 29);
  EXPECT_EQ(judge.Observe(t.At(minutes(2))), Decision::kRollback);
  EXPECT_EQ(judge.judgements(), 1);
  EXPECT_DOUBLE_EQ(judge.last_score(), 50);  // errors High, latency Pass
}

TEST(KayentaJudgeTest, CanaryLikeTheBaselineIsPromotedAtTheEnd) {
  KayentaJudge judge(KayentaOptions(), kStart);
  Traffic t;
  judge.Observe(t.At(seconds(0)));
  for (int s = 1; s < 300; ++s) {
    // The same error rates, minute by minute (3 of 600, 27 of 5,400).
    if (s % 60 == 0) ServeMinute(t, 3, 27);
    ASSERT_EQ(judge.Observe(t.At(seconds(s))), Decision::kContinue) << s;
  }
  ServeMinute(t, 3, 27);
  EXPECT_EQ(judge.Observe(t.At(minutes(5))), Decision::kPromote);
  EXPECT_EQ(judge.judgements(), 4);  // at 2, 3, 4 and 5 min
  EXPECT_DOUBLE_EQ(judge.last_score(), 100);
}

TEST(KayentaJudgeTest, OneJudgementAtTheEndWaitsForIt) {
  KayentaOptions options;
  options.judge_every_interval = false;
  KayentaJudge judge(options, kStart);
  Traffic t;
  judge.Observe(t.At(minutes(0)));
  for (int m = 1; m <= 4; ++m) {
    ServeMinute(t, 120 + m, 27 + m);
    ASSERT_EQ(judge.Observe(t.At(minutes(m))), Decision::kContinue) << m;
  }
  ServeMinute(t, 125, 32);
  EXPECT_EQ(judge.Observe(t.At(minutes(5))), Decision::kRollback);
  EXPECT_EQ(judge.judgements(), 1);
}

}  // namespace
}  // namespace hut::analysis
