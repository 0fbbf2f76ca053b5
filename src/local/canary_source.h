#ifndef HUT_LOCAL_CANARY_SOURCE_H_
#define HUT_LOCAL_CANARY_SOURCE_H_

// The canary analysis' MetricsSource on the local runtime: what HAProxy saw
// of each replica (TrafficObserver) and each replica's own latency histogram,
// one series per replica, grouped by revision into canary and baseline.

#include <string>

#include "src/analysis/metrics_source.h"
#include "src/local/replica_traffic.h"
#include "src/local/local_runtime.h"

namespace hut::local {

// `runtime` and `observer` must outlive it. Called from one thread.
class ReplicaTrafficSource final : public analysis::MetricsSource {
 public:
  ReplicaTrafficSource(LocalRuntime& runtime, const TrafficObserver& observer,
                       std::string service, int canary_revision, int baseline_revision);

  absl::StatusOr<analysis::Observation> Scrape(TimePoint now) override;

 private:
  LocalRuntime& runtime_;
  const TrafficObserver& observer_;
  const std::string service_;
  const int canary_revision_;
  const int baseline_revision_;
};

// One replica's traffic as an analysis series: a request is every answer plus
// every connection error and broken response, so each failed request is also
// a request (docs/analysis.md, "For the integrator").
analysis::SeriesSample ToSeries(const ReplicaTraffic& traffic);

}  // namespace hut::local

#endif  // HUT_LOCAL_CANARY_SOURCE_H_
