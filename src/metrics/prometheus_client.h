#ifndef HUT_METRICS_PROMETHEUS_CLIENT_H_
#define HUT_METRICS_PROMETHEUS_CLIENT_H_

// Instant queries to a Prometheus server's HTTP API (/api/v1/query), for
// what hut reads from Prometheus: the canary analysis on Kubernetes and the
// traffic `hut rollout status` shows.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hut::metrics {

// One element of an instant vector.
struct QuerySample {
  std::map<std::string, std::string> labels;
  std::string value;  // as Prometheus wrote it: "12", "0.5", "NaN", "+Inf"
};

class PrometheusClient {
 public:
  // InvalidArgument when `url` is not http://HOST:PORT[/PREFIX].
  static absl::StatusOr<PrometheusClient> Create(const std::string& url,
                                                 std::chrono::milliseconds timeout);
  // Unavailable, naming the server, when it cannot be reached or refuses the
  // query (the reason Prometheus gave).
  absl::StatusOr<std::vector<QuerySample>> Query(const std::string& promql) const;
  const std::string& url() const { return url_; }

 private:
  PrometheusClient() = default;
  std::string url_, host_, prefix_;
  uint16_t port_ = 0;
  std::chrono::milliseconds timeout_{2000};
};

// A PromQL string literal: "a\"b".
std::string PromQuoted(const std::string& s);

}  // namespace hut::metrics

#endif  // HUT_METRICS_PROMETHEUS_CLIENT_H_
