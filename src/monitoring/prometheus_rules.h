#ifndef HUT_MONITORING_PROMETHEUS_RULES_H_
#define HUT_MONITORING_PROMETHEUS_RULES_H_

// Prometheus rules generated from the spec, so that the thresholds live in one
// place (policies.alerting.rules): the file Prometheus loads
// (`hut monitoring rules`; monitoring/prometheus/rules.yml is foohut.yaml's).
//
// Per environment E, two groups:
//   hut:E:red     recording rules, RED per service and per service and version,
//                 from each service's own series (services.S.metrics):
//                   service:http_requests:rate1m              requests/s
//                   service:http_errors:rate1m                errors/s
//                   service:http_error_ratio:rate1m           errors / requests
//                   service:http_request_duration_seconds:p99_1m
//                 and the same with the prefix service_version: (by version).
//   hut:E:alerts  alerting rules with a `severity` label (ADR-009's table):
//                   ServiceDown             critical  no replica of a service up
//                   HighErrorRate           critical  error ratio above error_rate
//                   ElevatedErrorRate       medium    above elevated_error_rate
//                   HighLatency             high      P99 above high_latency
//                   PerformanceDegradation  low       P99 above performance_degradation
//                   LowDiskSpace            high      a filesystem's free share below low_disk
// Every series is selected by the labels the scrape gives it: environment,
// service, version (replicas), and the node exporter's for disks.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/spec/spec.h"

namespace hut::monitoring {

// The rules file (YAML) for `environment`, or for every environment of the
// spec when it is empty. NotFound names an unknown environment.
absl::StatusOr<std::string> PrometheusRules(const spec::Spec& spec,
                                            std::string_view environment = "");

}  // namespace hut::monitoring

#endif  // HUT_MONITORING_PROMETHEUS_RULES_H_
