#include "testing/analysis_simulator.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace hut::analysis {
namespace {

uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Random::Random(uint64_t seed) {
  for (uint64_t& s : s_) s = SplitMix(seed);
}

uint64_t Random::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

double Random::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

double Random::Normal() {
  if (have_spare_) {
    have_spare_ = false;
    return spare_;
  }
  double u = 1 - Uniform();  // (0, 1]
  double v = Uniform();
  double r = std::sqrt(-2 * std::log(u));
  spare_ = r * std::sin(2 * M_PI * v);
  have_spare_ = true;
  return r * std::cos(2 * M_PI * v);
}

uint64_t Random::Poisson(double mean) {
  if (mean <= 0) return 0;
  if (mean < 30) {
    // Knuth: multiply uniforms until below e^-mean.
    const double limit = std::exp(-mean);
    uint64_t k = 0;
    double p = Uniform();
    while (p > limit) {
      ++k;
      p *= Uniform();
    }
    return k;
  }
  // Large means: the normal approximation, rounded (traffic counts only).
  double x = std::round(mean + std::sqrt(mean) * Normal());
  return x < 0 ? 0 : static_cast<uint64_t>(x);
}

SimProfile QuietProfile() {
  SimProfile p;
  p.traffic_noise = 0;
  p.error_noise = 0;
  p.latency_noise = 0;
  p.error_incident_chance = 0;
  p.slow_incident_chance = 0;
  return p;
}

TrafficSimulator::TrafficSimulator(const SimProfile& profile, uint64_t seed, TimePoint start)
    : profile_(profile), random_(seed), now_(start) {
  canary_.buckets.assign(profile_.buckets.size() + 1, 0);
  baseline_.buckets.assign(profile_.buckets.size() + 1, 0);
  // Start the shared noise from its stationary distribution.
  log_traffic_ = profile_.traffic_noise * random_.Normal();
  log_errors_ = profile_.error_noise * random_.Normal();
  log_latency_ = profile_.latency_noise * random_.Normal();
}

void TrafficSimulator::Serve(const GroupProfile& g, double traffic, double errors, double latency,
                             Group& out) {
  double error_rate = g.error_rate * errors;
  double median = g.latency_median * latency;
  if (random_.Uniform() < profile_.error_incident_chance) {
    error_rate = std::max(error_rate, profile_.incident_error_rate);
  }
  if (random_.Uniform() < profile_.slow_incident_chance) median *= profile_.incident_slowdown;
  error_rate = std::min(error_rate, 1.0);
  const double log_median = std::log(median);
  const uint64_t n = random_.Poisson(g.rps * traffic);
  const std::vector<double>& bounds = profile_.buckets;
  for (uint64_t i = 0; i < n; ++i) {
    ++out.requests;
    if (random_.Uniform() < error_rate) ++out.failed;
    double seconds = std::exp(log_median + g.latency_sigma * random_.Normal());
    size_t b = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
    ++out.buckets[b];
  }
}

void TrafficSimulator::SimulateSecond() {
  // AR(1) in log space with stationary standard deviation `noise`.
  const double phi = profile_.persistence;
  const double innovation = std::sqrt(1 - phi * phi);
  log_traffic_ = phi * log_traffic_ + innovation * profile_.traffic_noise * random_.Normal();
  log_errors_ = phi * log_errors_ + innovation * profile_.error_noise * random_.Normal();
  log_latency_ = phi * log_latency_ + innovation * profile_.latency_noise * random_.Normal();
  const double traffic = std::exp(log_traffic_);
  const double errors = std::exp(log_errors_);
  const double latency = std::exp(log_latency_);
  Serve(profile_.canary, traffic, errors, latency, canary_);
  Serve(profile_.baseline, traffic, errors, latency, baseline_);
}

MetricSample TrafficSimulator::Sample(const GroupProfile& g, const Group& s,
                                      const std::string& prefix) const {
  MetricSample m;
  // One series for the group, as a source with group totals reports it.
  SeriesSample& series = m.series[prefix];
  series.requests = s.requests;
  series.responses_5xx = s.failed;
  series.latency.upper_bounds = profile_.buckets;
  series.latency.upper_bounds.push_back(std::numeric_limits<double>::infinity());
  uint64_t total = 0;
  for (uint64_t c : s.buckets) {
    total += c;
    series.latency.cumulative_counts.push_back(total);
  }
  for (int r = 1; r <= g.replicas; ++r) {
    m.health_check_failures[absl::StrCat(prefix, "-", r)] = g.health_check_failures;
  }
  return m;
}

Observation TrafficSimulator::Advance(TimePoint at) {
  while (now_ + std::chrono::seconds(1) <= at) {
    now_ += std::chrono::seconds(1);
    SimulateSecond();
  }
  Observation o;
  o.at = at;
  o.canary = Sample(profile_.canary, canary_, "canary");
  o.baseline = Sample(profile_.baseline, baseline_, "baseline");
  return o;
}

RecordedRun SimulateRun(const SimProfile& profile, uint64_t seed, const AnalysisConfig& policy,
                        TimePoint start, Duration tick, Duration length) {
  RecordedRun run;
  run.policy = policy;
  run.started_at = start;
  TrafficSimulator sim(profile, seed, start);
  for (TimePoint t = start; t <= start + length; t += tick) {
    RecordedScrape& s = run.samples.emplace_back();
    s.at = t;
    s.observation = sim.Advance(t);
  }
  return run;
}

}  // namespace hut::analysis
