#ifndef HUT_ANALYSIS_SEQUENTIAL_TEST_H_
#define HUT_ANALYSIS_SEQUENTIAL_TEST_H_

// An anytime-valid one-sided test that the canary's rate of some event (a
// failed request, a slow request) is worse than the baseline's by more than a
// minimum effect, from counts that arrive in blocks (one block per scrape).
// It may be checked after every block for as long as one likes: under the
// null hypothesis the chance that it ever rejects is at most alpha.
//
// Method (docs/analysis.md has the derivation): testing by betting with
// e-values for two Bernoulli streams, as in R. J. Turner, A. Ly, P. D.
// Grünwald, "Generic E-variables for exact sequential k-sample tests that
// allow for optional stopping", J. Statistical Planning and Inference 230
// (2024) 106116. Each block's e-value is the likelihood ratio of a plug-in
// alternative (estimated from earlier blocks only) against the null point
// closest to it in the reverse-KL sense (the reverse information projection),
// which for a null line p_c = s * p_b + d has a closed-form optimality
// condition solved here by bisection. The product of block e-values is a
// nonnegative supermartingale under every point of the null, so by Ville's
// inequality P(sup_t E_t >= 1/alpha) <= alpha.
//
// The minimum effect is an intersection-union test of two lines: the canary
// is worse when its rate exceeds (1 + relative_margin) * baseline AND
// baseline + absolute_margin; each line has its own e-process, and the test
// rejects when both have reached 1/alpha.

#include <cstdint>

namespace hut::analysis {

// `events` of `trials` (failed of requests; slow of requests).
struct Counts {
  uint64_t trials = 0;
  uint64_t events = 0;
  Counts& operator+=(const Counts& o) {
    trials += o.trials;
    events += o.events;
    return *this;
  }
  Counts& operator-=(const Counts& o) {
    trials -= o.trials;
    events -= o.events;
    return *this;
  }
  double Rate() const;  // events / trials; NaN when trials == 0
  bool operator==(const Counts&) const = default;
};

// The boundary of a null hypothesis H0: p_canary <= scale * p_baseline + shift.
struct NullLine {
  double scale = 1;  // >= 1
  double shift = 0;  // >= 0
  double At(double p_baseline) const { return scale * p_baseline + shift; }
};

// The null point (q_canary, q_baseline) on `line` that one block of n_canary
// and n_baseline Bernoulli trials bets against when the alternative is
// (alt_canary, alt_baseline): the one where the expected block e-value, as a
// function of the position on the line, is stationary (hence, the
// expectation being log-concave along the line, at most 1 everywhere on it).
// Requires alt_canary > line.At(alt_baseline), both alternatives in (0, 1),
// n_canary > 0 and n_baseline > 0.
struct NullPoint {
  double canary = 0;
  double baseline = 0;
};
NullPoint ReverseProjection(const NullLine& line, double alt_canary, double alt_baseline,
                            uint64_t n_canary, uint64_t n_baseline);

// log of one block's e-value for `line` given the bet (alt_canary,
// alt_baseline) chosen before the block was seen. 0 (no bet) when the
// alternative is not strictly worse than the line allows or a group had no
// trials. Its expectation is <= 1 under every (p_c, p_b) with
// p_c <= line.At(p_b), whatever the block sizes (which must not depend on
// the block's outcomes).
double BlockLogEValue(const NullLine& line, double alt_canary, double alt_baseline,
                      const Counts& canary, const Counts& baseline);

struct ComparisonOptions {
  double alpha = 0.005;            // P(ever rejecting a canary within the margins), (0, 1)
  double relative_margin = 0.5;    // >= 0: worse means rate > (1 + this) * baseline's
  double absolute_margin = 0.005;  // >= 0: and rate > baseline's + this
  // Strength, in trials, of the prior that pulls the canary's plug-in rate
  // towards the baseline's, so that a handful of unlucky canary requests do
  // not make the test bet heavily. > 0.
  double prior_trials = 20;
};

// The test's running state: two e-processes (one per margin line) and the
// data they have seen. Copyable, no allocation.
class BinomialComparison {
 public:
  explicit BinomialComparison(const ComparisonOptions& options);

  // Bets on one block. `estimate_canary`/`estimate_baseline` are counts from
  // before the block (they choose the bet: a recent window, say), `canary` and
  // `baseline` are the block's own counts. When either estimate is empty
  // there is no bet (the block's counts are still added to the totals).
  void Update(const Counts& estimate_canary, const Counts& estimate_baseline, const Counts& canary,
              const Counts& baseline);

  // Both e-processes have reached 1/alpha at some time: the canary is worse
  // than the baseline by more than both margins (at level alpha).
  bool Rejected() const;
  // The always-valid p-value: max over the two lines of 1 / (largest e-value
  // so far), at most 1. Rejected() == (PValue() <= alpha).
  double PValue() const;
  // The current e-values of the relative and absolute lines.
  double ERelative() const;
  double EAbsolute() const;
  // The blocks seen so far, summed.
  const Counts& canary() const { return canary_; }
  const Counts& baseline() const { return baseline_; }
  const ComparisonOptions& options() const { return options_; }

 private:
  ComparisonOptions options_;
  NullLine relative_;
  NullLine absolute_;
  double log_e_relative_ = 0;
  double log_e_absolute_ = 0;
  double max_log_e_relative_ = 0;
  double max_log_e_absolute_ = 0;
  Counts canary_;
  Counts baseline_;
};

}  // namespace hut::analysis

#endif  // HUT_ANALYSIS_SEQUENTIAL_TEST_H_
