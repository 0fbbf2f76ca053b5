#ifndef HUT_TESTING_FAKE_METRICS_SOURCE_H_
#define HUT_TESTING_FAKE_METRICS_SOURCE_H_

// A scripted canary MetricsSource: each revision gets a steady request rate,
// error fraction and latency bucket, integrated over the time between
// scrapes. Counters live in FakeMetrics, so a restarted controller's new
// source reads on where the last one stopped. Not thread-safe.

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "src/analysis/metrics_source.h"

namespace hut::testing {

// What each revision's replicas get and answer, per second.
struct Traffic {
  double rps = 0;
  double error_rate = 0;
  int latency_bucket = 0;  // every request lands in this bucket of FakeMetrics::kBounds
};

struct FakeMetrics {
  static inline const std::vector<double> kBounds = {
      0.05, 0.1, 0.5, 1, 2.5, std::numeric_limits<double>::infinity()};

  std::map<int, Traffic> traffic;  // by revision
  bool failing = false;            // every scrape fails
  int sources = 0;                 // sources made so far
  std::map<int, double> requests;
  std::map<int, double> errors;
  std::map<int, TimePoint> last;

  // One series for `revision`, its counters advanced to `now`.
  analysis::MetricSample Group(int revision, TimePoint now) {
    const Traffic t = traffic[revision];
    if (last.count(revision) > 0) {
      const double dt = std::chrono::duration<double>(now - last[revision]).count();
      requests[revision] += t.rps * dt;
      errors[revision] += t.rps * dt * t.error_rate;
    }
    last[revision] = now;
    analysis::SeriesSample s;
    s.requests = static_cast<uint64_t>(requests[revision]);
    s.responses_5xx = static_cast<uint64_t>(errors[revision]);
    s.latency.upper_bounds = kBounds;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      s.latency.cumulative_counts.push_back(static_cast<int>(i) >= t.latency_bucket ? s.requests
                                                                                     : 0);
    }
    analysis::MetricSample m;
    m.series["revision-" + std::to_string(revision)] = s;
    return m;
  }
};

class FakeMetricsSource final : public analysis::MetricsSource {
 public:
  FakeMetricsSource(FakeMetrics& metrics, int canary, int baseline)
      : metrics_(metrics), canary_(canary), baseline_(baseline) {}

  absl::StatusOr<analysis::Observation> Scrape(TimePoint now) override {
    if (metrics_.failing) return absl::UnavailableError("stats socket: connection refused");
    analysis::Observation o;
    o.at = now;
    o.canary = metrics_.Group(canary_, now);
    o.baseline = metrics_.Group(baseline_, now);
    return o;
  }

 private:
  FakeMetrics& metrics_;
  const int canary_;
  const int baseline_;
};

}  // namespace hut::testing

#endif  // HUT_TESTING_FAKE_METRICS_SOURCE_H_
