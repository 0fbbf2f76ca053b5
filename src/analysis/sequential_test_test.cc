#include "src/analysis/sequential_test.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "testing/analysis_simulator.h"

namespace hut::analysis {
namespace {

// log of the binomial pmf.
double LogPmf(uint64_t n, uint64_t k, double p) {
  return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) + k * std::log(p) +
         (n - k) * std::log1p(-p);
}

// E[exp(BlockLogEValue)] when the canary's rate is pc and the baseline's pb,
// summed exactly over every outcome of a block of (nc, nb) trials.
double ExpectedE(const NullLine& line, double ac, double ab, uint64_t nc, uint64_t nb, double pc,
                 double pb) {
  double sum = 0;
  for (uint64_t xc = 0; xc <= nc; ++xc) {
    for (uint64_t xb = 0; xb <= nb; ++xb) {
      double log_e = BlockLogEValue(line, ac, ab, {nc, xc}, {nb, xb});
      sum += std::exp(LogPmf(nc, xc, pc) + LogPmf(nb, xb, pb) + log_e);
    }
  }
  return sum;
}

struct Case {
  NullLine line;
  double ac, ab;
  uint64_t nc, nb;
};

// The e-value property: E[E] <= 1 at every point of the null (on the line and
// below it), for a range of bets and block shapes; and = 1 at the projection
// point (the bound is tight, so a wrong projection would exceed it).
TEST(BlockEValueTest, ExpectationAtMostOneEverywhereOnTheNull) {
  const std::vector<Case> cases = {
      {{1.5, 0}, 0.30, 0.05, 6, 30},   {{1, 0.02}, 0.30, 0.05, 6, 30},
      {{1.5, 0}, 0.10, 0.01, 20, 180}, {{1, 0.005}, 0.02, 0.004, 30, 270},
      {{1, 0}, 0.5, 0.2, 3, 3},        {{2, 0.01}, 0.9, 0.1, 10, 4},
  };
  for (const Case& c : cases) {
    NullPoint q = ReverseProjection(c.line, c.ac, c.ab, c.nc, c.nb);
    EXPECT_NEAR(q.canary, c.line.At(q.baseline), 1e-12);
    EXPECT_NEAR(ExpectedE(c.line, c.ac, c.ab, c.nc, c.nb, q.canary, q.baseline), 1.0, 1e-9);
    double worst = 0;
    const double t_max = (1 - c.line.shift) / c.line.scale;  // the line reaches p_c = 1
    for (int i = 0; i < 100; ++i) {
      const double t = t_max * (i + 0.5) / 100;
      worst = std::max(worst, ExpectedE(c.line, c.ac, c.ab, c.nc, c.nb, c.line.At(t), t));
      // Below the line: a better canary.
      worst = std::max(worst, ExpectedE(c.line, c.ac, c.ab, c.nc, c.nb, c.line.At(t) / 2, t));
    }
    // Baselines so bad the whole canary range is inside the null.
    worst = std::max(worst, ExpectedE(c.line, c.ac, c.ab, c.nc, c.nb, 0.999, 0.999));
    EXPECT_LE(worst, 1 + 1e-9) << "line " << c.line.scale << "x+" << c.line.shift;
  }
}

// The check above has teeth: betting against the naive null point (the
// alternative's own baseline rate on the line) breaks the e-value property.
TEST(BlockEValueTest, NaiveNullPointIsNotAnEValue) {
  const NullLine line{1.5, 0};
  const double ac = 0.3, ab = 0.05;
  const uint64_t nc = 6, nb = 30;
  const NullPoint naive{line.At(ab), ab};
  double worst = 0;
  for (double t = 0.001; line.At(t) < 1; t += 0.001) {
    double sum = 0;
    for (uint64_t xc = 0; xc <= nc; ++xc) {
      for (uint64_t xb = 0; xb <= nb; ++xb) {
        double log_e = xc * std::log(ac / naive.canary) +
                       (nc - xc) * std::log((1 - ac) / (1 - naive.canary)) +
                       xb * std::log(ab / naive.baseline) +
                       (nb - xb) * std::log((1 - ab) / (1 - naive.baseline));
        sum += std::exp(LogPmf(nc, xc, line.At(t)) + LogPmf(nb, xb, t) + log_e);
      }
    }
    worst = std::max(worst, sum);
  }
  EXPECT_GT(worst, 1.01);
}

TEST(BlockEValueTest, NoBetWithoutAnAlternativeOrData) {
  const NullLine line{1.5, 0};
  EXPECT_EQ(BlockLogEValue(line, 0.015, 0.01, {100, 10}, {100, 1}), 0);  // on the line
  EXPECT_EQ(BlockLogEValue(line, 0.010, 0.01, {100, 10}, {100, 1}), 0);  // below it
  EXPECT_EQ(BlockLogEValue(line, 0.2, 0.01, {0, 0}, {100, 1}), 0);       // no canary trials
  EXPECT_EQ(BlockLogEValue(line, 0.2, 0.01, {100, 10}, {0, 0}), 0);      // no baseline trials
  EXPECT_GT(BlockLogEValue(line, 0.2, 0.01, {100, 20}, {900, 9}), 0);    // a bet that wins
  EXPECT_LT(BlockLogEValue(line, 0.2, 0.01, {100, 1}, {900, 9}), 0);     // a bet that loses
}

// Repeated simulation of the whole test at the least favourable point of
// its null (where the two margin lines meet) and at equal rates without
// margins: the share of runs that ever reject stays below alpha.
TEST(BinomialComparisonTest, FalseRejectionsBelowAlphaUnderContinuousMonitoring) {
  struct Scenario {
    ComparisonOptions options;
    double pc, pb;
  };
  const std::vector<Scenario> scenarios = {
      {{0.05, 0, 0, 20}, 0.01, 0.01},         // no margins, equal rates
      {{0.05, 0.5, 0.005, 20}, 0.015, 0.01},  // both lines: 1.5 x 1 % = 1 % + 0.5
      {{0.05, 0, 0, 20}, 0.2, 0.2},           // frequent events
  };
  for (const Scenario& s : scenarios) {
    Random random(7);
    const int kRuns = 1000;
    int rejected = 0;
    for (int run = 0; run < kRuns; ++run) {
      BinomialComparison test(s.options);
      Counts window_c, window_b;
      for (int block = 0; block < 200 && !test.Rejected(); ++block) {
        Counts c{30, 0}, b{270, 0};
        for (uint64_t i = 0; i < c.trials; ++i) c.events += random.Uniform() < s.pc;
        for (uint64_t i = 0; i < b.trials; ++i) b.events += random.Uniform() < s.pb;
        test.Update(window_c, window_b, c, b);
        window_c += c;
        window_b += b;
      }
      rejected += test.Rejected();
    }
    std::printf("[figures] null %.3f vs %.3f, alpha %.2f: %d of %d runs of 200 blocks rejected\n",
                s.pc, s.pb, s.options.alpha, rejected, kRuns);
    EXPECT_LE(rejected, s.options.alpha * kRuns) << s.pc << " vs " << s.pb;
  }
}

TEST(BinomialComparisonTest, RejectsAClearlyWorseCanaryFast) {
  Random random(11);
  BinomialComparison test(ComparisonOptions{0.005, 0.5, 0.005, 20});
  Counts window_c, window_b;
  int blocks = 0;
  while (!test.Rejected() && blocks < 100) {
    Counts c{30, 0}, b{270, 0};
    for (uint64_t i = 0; i < c.trials; ++i) c.events += random.Uniform() < 0.2;
    for (uint64_t i = 0; i < b.trials; ++i) b.events += random.Uniform() < 0.005;
    test.Update(window_c, window_b, c, b);
    window_c += c;
    window_b += b;
    ++blocks;
  }
  EXPECT_TRUE(test.Rejected());
  EXPECT_LE(blocks, 5);
  EXPECT_LT(test.PValue(), 0.005);
  EXPECT_GT(test.ERelative(), 200);
  EXPECT_GT(test.EAbsolute(), 200);
}

TEST(BinomialComparisonTest, PValueNeverRisesAndMatchesRejected) {
  Random random(3);
  BinomialComparison test(ComparisonOptions{0.01, 0.5, 0.005, 20});
  Counts window_c, window_b;
  double last = 1;
  for (int block = 0; block < 50; ++block) {
    // Bad, then good: the p-value keeps its minimum (an always-valid p-value
    // is a running minimum).
    double pc = block < 10 ? 0.1 : 0.0;
    Counts c{30, 0}, b{270, 0};
    for (uint64_t i = 0; i < c.trials; ++i) c.events += random.Uniform() < pc;
    for (uint64_t i = 0; i < b.trials; ++i) b.events += random.Uniform() < 0.005;
    test.Update(window_c, window_b, c, b);
    window_c += c;
    window_b += b;
    EXPECT_LE(test.PValue(), last);
    last = test.PValue();
    EXPECT_EQ(test.Rejected(), test.PValue() <= 0.01);
  }
  EXPECT_EQ(test.canary().trials, 50u * 30);
}

// The margins are an AND: beyond the relative margin but within the absolute
// one (0.1 % vs 0.05 %: 2x, +0.05 points) is not rejected, however long.
TEST(BinomialComparisonTest, WithinOneMarginIsNeverRejected) {
  Random random(5);
  BinomialComparison test(ComparisonOptions{0.01, 0.5, 0.005, 20});
  Counts window_c, window_b;
  for (int block = 0; block < 300; ++block) {
    Counts c{3000, 0}, b{27000, 0};
    for (uint64_t i = 0; i < c.trials; ++i) c.events += random.Uniform() < 0.001;
    for (uint64_t i = 0; i < b.trials; ++i) b.events += random.Uniform() < 0.0005;
    test.Update(window_c, window_b, c, b);
    window_c += c;
    window_b += b;
  }
  EXPECT_FALSE(test.Rejected());
  EXPECT_GT(test.ERelative(), 1e6) << "the relative line alone is rejected";
}

}  // namespace
}  // namespace hut::analysis
