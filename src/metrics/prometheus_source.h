#ifndef HUT_METRICS_PROMETHEUS_SOURCE_H_
#define HUT_METRICS_PROMETHEUS_SOURCE_H_

// The canary analysis's MetricsSource over a Prometheus server's HTTP API
// (instant queries, /api/v1/query): where replicas are pods that Prometheus
// scrapes, as on Kubernetes. Each pod is one series of its group, as the
// analysis wants (metrics_source.h), from the pods' own RED metrics, named
// by the service's spec.MetricQueries (foohut-api's by default):
//   http_requests_total{code, route}          requests and 5xx answers
//   http_request_duration_seconds_bucket{le}  latency
// with the labels the scrape gives every pod's series (the charts' and
// docs/kubernetes.md's contract): namespace, service (hut's service name),
// revision, pod. Probe and /metrics requests are left out. Connection errors
// and timeouts are not visible in a pod's own metrics: a gateway's would be.

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "src/analysis/metrics_source.h"
#include "src/metrics/prometheus_client.h"
#include "src/spec/spec.h"

namespace hut::metrics {

struct PrometheusSourceOptions {
  std::string url;        // "http://127.0.0.1:9090"
  std::string namespace_;  // the environment's Kubernetes namespace
  std::string service;
  int canary_revision = 0;
  int baseline_revision = 0;
  spec::MetricQueries queries;  // the service's series (foohut-api's by default)
  std::chrono::milliseconds timeout{2000};
};

class PrometheusSource final : public analysis::MetricsSource {
 public:
  // InvalidArgument when `url` is not http://HOST:PORT[/PREFIX].
  static absl::StatusOr<std::unique_ptr<PrometheusSource>> Create(PrometheusSourceOptions options);
  absl::StatusOr<analysis::Observation> Scrape(TimePoint now) override;

  // The PromQL Scrape() sends, for tests and the docs.
  std::string RequestsQuery() const;
  std::string ErrorsQuery() const;
  std::string LatencyQuery() const;

 private:
  PrometheusSource(PrometheusSourceOptions options, PrometheusClient client)
      : options_(std::move(options)), client_(std::move(client)) {}
  std::string Selector() const;
  PrometheusSourceOptions options_;
  PrometheusClient client_;
};

}  // namespace hut::metrics

#endif  // HUT_METRICS_PROMETHEUS_SOURCE_H_
