#include "bench/judges/judges.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "src/analysis/histogram.h"

namespace hut::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One group's counters summed over its series.
struct Totals {
  uint64_t requests = 0;
  uint64_t failed = 0;
  LatencyHistogram latency;  // empty when the series disagree on buckets or have none
};

Totals Sum(const MetricSample& m) {
  Totals t;
  bool first = true;
  bool histogram = true;
  for (const auto& [name, s] : m.series) {
    const uint64_t failed = s.responses_5xx + s.connection_errors + s.timeouts;
    t.requests += std::max(s.requests, failed);
    t.failed += failed;
    if (first) {
      t.latency = s.latency;
      first = false;
    } else if (histogram && s.latency.upper_bounds == t.latency.upper_bounds) {
      for (size_t i = 0; i < s.latency.cumulative_counts.size(); ++i) {
        t.latency.cumulative_counts[i] += s.latency.cumulative_counts[i];
      }
    } else {
      histogram = false;
    }
  }
  if (!histogram) t.latency = LatencyHistogram();
  return t;
}

// The increase of a group from `before` to `now`.
Totals Increase(const MetricSample& before, const MetricSample& now) {
  Totals a = Sum(before);
  Totals b = Sum(now);
  Totals d;
  d.requests = b.requests - std::min(a.requests, b.requests);
  d.failed = b.failed - std::min(a.failed, b.failed);
  if (!b.latency.Empty() && a.latency.upper_bounds == b.latency.upper_bounds) {
    d.latency.upper_bounds = b.latency.upper_bounds;
    for (size_t i = 0; i < b.latency.cumulative_counts.size(); ++i) {
      const uint64_t x = a.latency.cumulative_counts[i];
      const uint64_t y = b.latency.cumulative_counts[i];
      d.latency.cumulative_counts.push_back(y - std::min(x, y));
    }
  }
  return d;
}

double ErrorRate(const Totals& t) {
  return t.requests == 0 ? kNaN : static_cast<double>(t.failed) / static_cast<double>(t.requests);
}

double Quantile(double q, const Totals& t) {
  return t.latency.Empty() ? kNaN : HistogramQuantile(q, t.latency);
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// The z with NormalCdf(z) = p, by bisection (called once per test).
double NormalQuantile(double p) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (NormalCdf(mid) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

// R's standardized rank-sum statistic of x - mu against y, with the
// continuity correction (wilcox.test's `wdiff` without its `- zq`); NaN when
// every value is tied.
double Standardized(std::span<const double> x, std::span<const double> y, double mu,
                    std::vector<std::pair<double, bool>>& scratch, double* u = nullptr) {
  const double nx = static_cast<double>(x.size());
  const double ny = static_cast<double>(y.size());
  scratch.clear();
  for (double v : x) scratch.emplace_back(v - mu, true);
  for (double v : y) scratch.emplace_back(v, false);
  std::sort(scratch.begin(), scratch.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  double x_ranks = 0;
  double ties = 0;  // sum of t^3 - t over groups of tied values
  for (size_t i = 0; i < scratch.size();) {
    size_t j = i;
    while (j < scratch.size() && scratch[j].first == scratch[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k) {
      if (scratch[k].second) x_ranks += rank;
    }
    ties += t * t * t - t;
    i = j;
  }
  const double dz = x_ranks - nx * (nx + 1) / 2 - nx * ny / 2;
  if (u) *u = dz + nx * ny / 2;
  const double sigma =
      std::sqrt(nx * ny / 12 * ((nx + ny + 1) - ties / ((nx + ny) * (nx + ny - 1))));
  if (!(sigma > 0)) return kNaN;
  const double correction = dz > 0 ? 0.5 : (dz < 0 ? -0.5 : 0);
  return (dz - correction) / sigma;
}

// R's `root`: the shift in [lo, hi] where the statistic crosses zq, or the
// end of the range when the statistic does not reach zq inside it. The
// statistic does not increase with the shift; it is a step function, so the
// root is found by bisection to a width of 1e-9 of the range.
double Root(std::span<const double> x, std::span<const double> y, double lo, double hi, double zq,
            std::vector<std::pair<double, bool>>& scratch) {
  const double f_lo = Standardized(x, y, lo, scratch) - zq;
  if (f_lo <= 0) return lo;
  const double f_hi = Standardized(x, y, hi, scratch) - zq;
  if (f_hi >= 0) return hi;
  const double width = (hi - lo) * 1e-9;
  while (hi - lo > width) {
    const double mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    const double f = Standardized(x, y, mid, scratch) - zq;
    if (f == 0) return mid;
    (f > 0 ? lo : hi) = mid;
  }
  return lo + (hi - lo) / 2;
}

double Mean(std::span<const double> v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

bool BothHaveAtLeast(const std::vector<double>& a, const std::vector<double>& b, size_t n) {
  return a.size() >= n && b.size() >= n;
}

}  // namespace

// ------------------------------------------------------------------ hut, ADR

AnalysisConfig HutConfig() { return AnalysisConfig(); }

AnalysisConfig AdrRuleConfig() {
  AnalysisConfig c = HutConfig();
  c.options.compare_error_rate = false;
  c.options.compare_latency = false;
  return c;
}

absl::StatusOr<AnalysisJudge> AnalysisJudge::Create(const AnalysisConfig& config,
                                                    TimePoint started_at) {
  absl::StatusOr<CanaryAnalysis> a = CanaryAnalysis::Create(config, started_at);
  if (!a.ok()) return a.status();
  return AnalysisJudge(*std::move(a));
}

Decision AnalysisJudge::Observe(const Observation& o) {
  if (analysis_.verdict().final) return analysis_.verdict().decision;
  return analysis_.Observe(o).decision;
}

// ------------------------------------------------------------------ Flagger

FlaggerJudge::FlaggerJudge(const FlaggerOptions& options, TimePoint started_at)
    : options_(options), next_tick_(started_at + options.interval) {}

bool FlaggerJudge::Check(const Observation& now) const {
  // request-success-rate, then request-duration; a query with no value
  // (no requests) fails the check ("no values found").
  const Totals d = Increase(previous_.canary, now.canary);
  const double error_rate = ErrorRate(d);
  if (std::isnan(error_rate) || 1 - error_rate < options_.min_success_rate) return false;
  const double p99 = Quantile(0.99, d);
  if (std::isnan(p99) || p99 > options_.max_p99_seconds) return false;
  return true;
}

Decision FlaggerJudge::Observe(const Observation& o) {
  if (decision_ != Decision::kContinue) return decision_;
  if (!have_reference_) {
    previous_ = o;
    have_reference_ = true;
    return decision_;
  }
  if (o.at < next_tick_) return decision_;
  while (next_tick_ <= o.at) next_tick_ += options_.interval;
  // Flagger compares the counter with the threshold before it runs the
  // checks of this tick.
  if (failed_ >= options_.threshold) return decision_ = Decision::kRollback;
  const bool ok = Check(o);
  previous_ = o;
  if (!ok) {
    ++failed_;
    return decision_;
  }
  if (++passed_ >= options_.checks_to_promote) decision_ = Decision::kPromote;
  return decision_;
}

// ------------------------------------------------------------------ Kayenta

MannWhitneyResult MannWhitneyTest(std::span<const double> x, std::span<const double> y,
                                  double confidence_level) {
  MannWhitneyResult r;
  if (x.empty() || y.empty()) return r;
  std::vector<std::pair<double, bool>> scratch;
  scratch.reserve(x.size() + y.size());
  const double z = Standardized(x, y, 0, scratch, &r.u);
  if (std::isnan(z)) return r;
  r.p_value = std::min(1.0, 2 * std::min(NormalCdf(z), NormalCdf(-z)));

  const double lo = *std::min_element(x.begin(), x.end()) - *std::max_element(y.begin(), y.end());
  const double hi = *std::max_element(x.begin(), x.end()) - *std::min_element(y.begin(), y.end());
  // Each group a single distinct value (one point each, say): every shift in
  // the range ties them all. R stops there; Kayenta throws (or, when it added
  // noise first, tests the noise).
  if (!(lo < hi) || std::isnan(Standardized(x, y, lo, scratch)) ||
      std::isnan(Standardized(x, y, hi, scratch))) {
    return r;
  }
  const double zq = NormalQuantile(1 - (1 - confidence_level) / 2);
  r.lower = Root(x, y, lo, hi, zq, scratch);
  r.upper = Root(x, y, lo, hi, -zq, scratch);
  r.estimate = Root(x, y, lo, hi, 0, scratch);
  r.ok = true;
  return r;
}

MetricClass ClassifyMetric(std::span<const double> canary, std::span<const double> baseline,
                           const KayentaClassifierOptions& options) {
  if (canary.empty() || baseline.empty()) return MetricClass::kNoData;
  std::vector<double> a(canary.begin(), canary.end());
  std::vector<double> b(baseline.begin(), baseline.end());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  if (a == b) return MetricClass::kPass;
  if (a.front() == a.back() && b.front() == b.back() && a.front() == b.front()) {
    return MetricClass::kPass;
  }
  // Kayenta adds tiny noise when each group holds a single distinct value;
  // here such data has no interval (kError).
  const MannWhitneyResult r = MannWhitneyTest(canary, baseline, options.confidence_level);
  if (!r.ok) return MetricClass::kError;
  const double band = options.tolerance * std::abs(r.estimate);
  const double baseline_mean = Mean(baseline);
  const double canary_mean = Mean(canary);
  // EffectSizes.meanRatio; 1 when the baseline's mean is 0 (calculateDeviation).
  const double ratio =
      baseline_mean == 0 ? 1.0 : (canary_mean == 0 ? kNaN : canary_mean / baseline_mean);
  const bool up = options.direction != MetricDirection::kDecrease;
  const bool down = options.direction != MetricDirection::kIncrease;
  if (up && r.lower > band && (std::isnan(ratio) || ratio >= options.allowed_increase)) {
    return MetricClass::kHigh;
  }
  if (down && r.upper < -band && (std::isnan(ratio) || ratio <= options.allowed_decrease)) {
    return MetricClass::kLow;
  }
  return MetricClass::kPass;
}

KayentaJudge::KayentaJudge(const KayentaOptions& options, TimePoint started_at)
    : options_(options),
      started_at_(started_at),
      next_point_(started_at + options.step),
      next_judgement_(started_at + (options.judge_every_interval ? options.interval
                                                                 : options.lifetime)),
      last_score_(kNaN) {}

double KayentaJudge::Score() const {
  int pass = 0;
  int fail = 0;
  for (MetricClass c :
       {ClassifyMetric(canary_errors_, baseline_errors_, options_.classifier),
        ClassifyMetric(canary_p50_, baseline_p50_, options_.classifier)}) {
    if (c == MetricClass::kPass) ++pass;
    if (c == MetricClass::kHigh || c == MetricClass::kLow) ++fail;
  }
  // WeightedSumScorer: a group with no classified metric scores 0.
  return pass + fail == 0 ? 0.0 : 100.0 * pass / (pass + fail);
}

Decision KayentaJudge::Observe(const Observation& o) {
  if (decision_ != Decision::kContinue) return decision_;
  if (!have_reference_) {
    previous_ = o;
    have_reference_ = true;
    return decision_;
  }
  if (o.at >= next_point_) {
    while (next_point_ <= o.at) next_point_ += options_.step;
    const Totals c = Increase(previous_.canary, o.canary);
    const Totals b = Increase(previous_.baseline, o.baseline);
    previous_ = o;
    ++points_;
    // nanStrategy remove: a step without data adds no point.
    auto add = [](std::vector<double>& v, double x) {
      if (!std::isnan(x)) v.push_back(x);
    };
    add(canary_errors_, ErrorRate(c));
    add(baseline_errors_, ErrorRate(b));
    add(canary_p50_, Quantile(0.5, c));
    add(baseline_p50_, Quantile(0.5, b));
  }
  if (o.at < next_judgement_) return decision_;
  while (next_judgement_ <= o.at) next_judgement_ += options_.interval;
  const bool last = o.at >= started_at_ + options_.lifetime;
  const size_t n = static_cast<size_t>(options_.min_points);
  if (!last && !(BothHaveAtLeast(canary_errors_, baseline_errors_, n) &&
                 BothHaveAtLeast(canary_p50_, baseline_p50_, n))) {
    return decision_;
  }
  last_score_ = Score();
  ++judgements_;
  // Orca: MonitorKayentaCanaryTask fails a run scoring <= marginal;
  // AggregateCanaryResultsTask also fails a last score below pass.
  if (last_score_ <= options_.marginal_score) return decision_ = Decision::kRollback;
  if (last) {
    decision_ = last_score_ >= options_.pass_score ? Decision::kPromote : Decision::kRollback;
  }
  return decision_;
}

}  // namespace hut::analysis
