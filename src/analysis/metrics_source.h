#ifndef HUT_ANALYSIS_METRICS_SOURCE_H_
#define HUT_ANALYSIS_METRICS_SOURCE_H_

// What the canary analysis reads, and the seam it reads it through (STYLE.md
// rule 7): a MetricsSource answers one Observation of the canary and the
// baseline (the stable version) at one instant. Implementations (HAProxy's
// stats, replicas' /metrics, a Prometheus query) live elsewhere; this header
// holds none.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/clock.h"

namespace hut::analysis {

// A cumulative latency histogram as Prometheus exposes one: bucket upper
// bounds in seconds, strictly ascending, the last one +Inf; and for each
// bound the number of requests that took at most that long (cumulative, so
// non-decreasing; the last is the total). Both vectors have the same length.
// Empty vectors mean "no histogram" (the source has none for this group).
struct LatencyHistogram {
  std::vector<double> upper_bounds;
  std::vector<uint64_t> cumulative_counts;

  uint64_t Count() const { return cumulative_counts.empty() ? 0 : cumulative_counts.back(); }
  bool Empty() const { return upper_bounds.empty(); }
  bool operator==(const LatencyHistogram&) const = default;
};

// The cumulative counters of one series: usually one replica as the load
// balancer and the replica's /metrics see it, or a whole group when the
// source only has group totals (a Prometheus `sum by (version)`). Counters
// are cumulative since some start the source chooses (a process start, the
// replica joining the load balancer); the analysis differences each series
// against its own previous value, and a counter lower than at the previous
// scrape is a restart of that series, whose new value is the increase (as
// Prometheus' rate() does).
//
// Errors are counted as the load balancer saw them, because a crashing canary
// cannot report its own errors: a request is failed when it was answered 5xx,
// or the connection to the replica failed, or it timed out. `requests` counts
// every request the load balancer sent to the replica, failed ones included
// (a source that leaves failed connections out is tolerated: the analysis
// takes at least as many requests as failures).
struct SeriesSample {
  uint64_t requests = 0;
  uint64_t responses_5xx = 0;
  uint64_t connection_errors = 0;
  uint64_t timeouts = 0;
  // Request latency (probes excluded), cumulative; empty when unknown.
  LatencyHistogram latency;
  bool operator==(const SeriesSample&) const = default;
};

// One version group (every canary replica, or every baseline replica) at one
// scrape.
struct MetricSample {
  // By series name (the replica's name). Keep one series per replica rather
  // than summing replicas: a sum drops when one replica restarts, which would
  // read as a restart of the whole group. A series seen for the first time
  // is a reference (its history before is not counted); a series missing
  // from a scrape keeps its last value and is differenced when it returns.
  // Every series' histogram should have the group's buckets; a series with
  // other buckets than the group's first (by name) is left out of latency.
  std::map<std::string, SeriesSample> series;
  // Consecutive failed health (readiness) checks of each replica of the group
  // right now, by replica name: a gauge, not a counter (0 after a success).
  std::map<std::string, int> health_check_failures;

  bool operator==(const MetricSample&) const = default;
};

// Both groups at one instant. `at` is when the source read them; the analysis
// requires it to increase from one observation to the next.
struct Observation {
  TimePoint at;
  MetricSample canary;
  MetricSample baseline;
  bool operator==(const Observation&) const = default;
};

// Where the analysis gets its observations. An error (the load balancer's
// stats socket down, a timeout, an unparsable page) is returned as a status;
// the analysis turns errors into verdicts (see CanaryAnalysis::ObserveError).
// Called from one thread at a time (the rollout's reconcile worker).
class MetricsSource {
 public:
  virtual ~MetricsSource() = default;
  // The canary's and the baseline's counters now; `now` is the analysis
  // clock's time, which the source should put in Observation::at unless it
  // has a more exact time of its own reading.
  virtual absl::StatusOr<Observation> Scrape(TimePoint now) = 0;
};

}  // namespace hut::analysis

#endif  // HUT_ANALYSIS_METRICS_SOURCE_H_
