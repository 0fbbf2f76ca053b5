#include "src/local/canary_source.h"

#include <cmath>

namespace hut::local {
namespace {

uint64_t Count(int64_t n) { return n > 0 ? static_cast<uint64_t>(n) : 0; }

analysis::LatencyHistogram ToLatency(const metrics::Histogram& h) {
  analysis::LatencyHistogram out;
  out.upper_bounds = h.upper_bounds;
  out.cumulative_counts.reserve(h.cumulative_counts.size());
  for (double c : h.cumulative_counts) {
    out.cumulative_counts.push_back(c > 0 ? static_cast<uint64_t>(std::llround(c)) : 0);
  }
  return out;
}

}  // namespace

analysis::SeriesSample ToSeries(const ReplicaTraffic& traffic) {
  analysis::SeriesSample s;
  s.responses_5xx = Count(traffic.responses[5]);
  s.connection_errors = Count(traffic.connection_errors);
  s.timeouts = Count(traffic.response_errors);
  s.requests = Count(traffic.answered()) + s.connection_errors + s.timeouts;
  if (traffic.latency) s.latency = ToLatency(*traffic.latency);
  return s;
}

ReplicaTrafficSource::ReplicaTrafficSource(LocalRuntime& runtime,
                                           const TrafficObserver& observer, std::string service,
                                           int canary_revision, int baseline_revision)
    : runtime_(runtime),
      observer_(observer),
      service_(std::move(service)),
      canary_revision_(canary_revision),
      baseline_revision_(baseline_revision) {}

absl::StatusOr<analysis::Observation> ReplicaTrafficSource::Scrape(TimePoint now) {
  std::vector<LocalReplica> replicas;
  for (LocalReplica& r : runtime_.Processes(service_)) {
    // A draining replica has left its group; its counters would only add
    // the requests it finishes.
    if (r.draining) continue;
    if (r.revision == canary_revision_ || r.revision == baseline_revision_) {
      replicas.push_back(std::move(r));
    }
  }
  absl::StatusOr<std::vector<ReplicaTraffic>> traffic = observer_.Observe(service_, replicas);
  if (!traffic.ok()) return traffic.status();
  analysis::Observation o;
  o.at = now;
  for (size_t i = 0; i < replicas.size(); ++i) {
    analysis::MetricSample& group =
        replicas[i].revision == canary_revision_ ? o.canary : o.baseline;
    group.series[replicas[i].name] = ToSeries((*traffic)[i]);
    group.health_check_failures[replicas[i].name] = replicas[i].consecutive_failures;
  }
  return o;
}

}  // namespace hut::local
