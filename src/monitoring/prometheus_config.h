#ifndef HUT_MONITORING_PROMETHEUS_CONFIG_H_
#define HUT_MONITORING_PROMETHEUS_CONFIG_H_

// The configuration of the Prometheus hut runs for an environment (`hut up`),
// and the file_sd target file of its replicas, which hut rewrites as
// replicas come and go. Every series scraped gets the label environment;
// replicas' also service, version, revision and replica (the labels the
// rules of prometheus_rules.h select by).

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace hut::monitoring {

// A target that does not come and go: hut itself, the load balancer, an exporter.
struct StaticTarget {
  std::string job;      // "hut", "load-balancer", "node", …
  std::string address;  // host:port
  std::string metrics_path = "/metrics";
  std::map<std::string, std::string> labels;  // besides environment
};

struct PrometheusConfigOptions {
  std::string environment;
  std::chrono::seconds scrape_interval{5};
  std::chrono::seconds evaluation_interval{5};
  std::vector<StaticTarget> targets;
  std::string replicas_file;  // the file_sd JSON of the replicas (ReplicaTargets)
  std::string rules_file;     // "" : none
};

// prometheus.yml's text.
std::string PrometheusConfig(const PrometheusConfigOptions& options);

// A replica as Prometheus scrapes it.
struct ReplicaTarget {
  std::string address;  // host:port
  std::string service;
  std::string version;
  int revision = 0;
  std::string replica;  // its name
};

// The file_sd JSON: one target group per replica, with its labels.
std::string ReplicaTargets(const std::string& environment,
                           const std::vector<ReplicaTarget>& replicas);

}  // namespace hut::monitoring

#endif  // HUT_MONITORING_PROMETHEUS_CONFIG_H_
