#include "src/analysis/sequential_test.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hut::analysis {
namespace {

// Plug-in rates stay this far from 0 and 1 so that every log is finite.
constexpr double kEps = 1e-9;

double Clamp(double p) { return std::clamp(p, kEps, 1 - kEps); }

// d/dp of log(p * a / q + (1 - p) * (1 - a) / (1 - q)) at p = q: the slope of
// the log of the expected e-value of one trial, seen from the null point q.
double Slope(double alt, double q) { return alt / q - (1 - alt) / (1 - q); }

}  // namespace

double Counts::Rate() const {
  if (trials == 0) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(events) / static_cast<double>(trials);
}

NullPoint ReverseProjection(const NullLine& line, double alt_canary, double alt_baseline,
                            uint64_t n_canary, uint64_t n_baseline) {
  // Along the line, t -> (s t + d, t), the log of the expected block e-value
  //   n_c log(A(t)) + n_b log(B(t)),  A, B affine in t,
  // is concave and 0 at t = q_b. It is at most 0 everywhere when its slope
  // at q_b is 0:
  //   g(q_b) = n_c s Slope(a_c, s q_b + d) + n_b Slope(a_b, q_b) = 0.
  // g decreases in q_b; g >= 0 at q_b = a_b (the second term vanishes and
  // the first is >= 0 because a_c >= s a_b + d) and g <= 0 at
  // q_b = (a_c - d) / s (the first term vanishes). Bisect between them.
  const double s = line.scale;
  const double d = line.shift;
  const double nc = static_cast<double>(n_canary);
  const double nb = static_cast<double>(n_baseline);
  double lo = alt_baseline;
  double hi = (alt_canary - d) / s;
  for (int i = 0; i < 200 && hi - lo > 1e-15 * hi; ++i) {
    double mid = 0.5 * (lo + hi);
    double g = nc * s * Slope(alt_canary, s * mid + d) + nb * Slope(alt_baseline, mid);
    if (g > 0) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  double qb = 0.5 * (lo + hi);
  return NullPoint{s * qb + d, qb};
}

double BlockLogEValue(const NullLine& line, double alt_canary, double alt_baseline,
                      const Counts& canary, const Counts& baseline) {
  if (canary.trials == 0 || baseline.trials == 0) return 0;
  double ac = Clamp(alt_canary);
  double ab = Clamp(alt_baseline);
  // A bet needs an alternative strictly outside the null, and a line that
  // leaves room for one.
  if (!(ac > line.At(ab)) || line.At(ab) >= 1 - kEps) return 0;
  NullPoint q = ReverseProjection(line, ac, ab, canary.trials, baseline.trials);
  const double xc = static_cast<double>(canary.events);
  const double yc = static_cast<double>(canary.trials - canary.events);
  const double xb = static_cast<double>(baseline.events);
  const double yb = static_cast<double>(baseline.trials - baseline.events);
  return xc * std::log(ac / q.canary) + yc * std::log((1 - ac) / (1 - q.canary)) +
         xb * std::log(ab / q.baseline) + yb * std::log((1 - ab) / (1 - q.baseline));
}

BinomialComparison::BinomialComparison(const ComparisonOptions& options)
    : options_(options),
      relative_{1 + options.relative_margin, 0},
      absolute_{1, options.absolute_margin} {}

void BinomialComparison::Update(const Counts& estimate_canary, const Counts& estimate_baseline,
                                const Counts& canary, const Counts& baseline) {
  canary_ += canary;
  baseline_ += baseline;
  // No earlier data to choose a bet from: no bet. So a block can only add
  // evidence for what earlier blocks already suggested, and a one-scrape blip
  // (a cold canary's first seconds) cannot roll back on its own.
  if (estimate_canary.trials == 0 || estimate_baseline.trials == 0) return;
  // The bet, from earlier data only. The baseline's rate with a Jeffreys-like
  // half event; the canary's shrunk towards the baseline's by prior_trials.
  double ab = (static_cast<double>(estimate_baseline.events) + 0.5) /
              (static_cast<double>(estimate_baseline.trials) + 1);
  double ac = (static_cast<double>(estimate_canary.events) + options_.prior_trials * ab) /
              (static_cast<double>(estimate_canary.trials) + options_.prior_trials);
  log_e_relative_ += BlockLogEValue(relative_, ac, ab, canary, baseline);
  log_e_absolute_ += BlockLogEValue(absolute_, ac, ab, canary, baseline);
  max_log_e_relative_ = std::max(max_log_e_relative_, log_e_relative_);
  max_log_e_absolute_ = std::max(max_log_e_absolute_, log_e_absolute_);
}

bool BinomialComparison::Rejected() const { return PValue() <= options_.alpha; }

double BinomialComparison::PValue() const {
  return std::min(1.0, std::exp(-std::min(max_log_e_relative_, max_log_e_absolute_)));
}

double BinomialComparison::ERelative() const { return std::exp(log_e_relative_); }
double BinomialComparison::EAbsolute() const { return std::exp(log_e_absolute_); }

}  // namespace hut::analysis
