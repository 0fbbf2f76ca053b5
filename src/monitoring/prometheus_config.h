#ifndef HUT_MONITORING_PROMETHEUS_CONFIG_H_
#define HUT_MONITORING_PROMETHEUS_CONFIG_H_

// The configuration of the Prometheus hut runs for an environment (`hut up`),
// and the file_sd target file of its replicas, which hut rewrites as
// replicas come and go. Every series scraped gets the label environment;
// replicas' also service, version, revision and replica (the labels the
// rules of prometheus_rules.h select by).

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/spec/spec.h"

namespace hut::monitoring {

// A target that does not come and go: hut itself, the load balancer, an exporter.
struct StaticTarget {
  std::string job;      // "hut", "load-balancer", "node", …
  std::string address;  // host:port
  std::string metrics_path = "/metrics";
  std::map<std::string, std::string> labels;  // besides environment
};

// On Kubernetes: every pod of hut's services in the namespace, found through
// the API server (role pod), on its container port named http, labelled by
// the contract of docs/kubernetes.md: namespace, pod, service, revision,
// version, and environment.
struct KubernetesPods {
  std::string namespace_;
  // hut's own pod (label app.kubernetes.io/name=hut, port http) in this
  // namespace, as job "hut"; "": none.
  std::string hut_namespace;
  // The API server and how to reach it; all "": in-cluster (the pod's
  // service account), as Prometheus does by itself.
  std::string api_server;  // https://HOST:PORT
  std::string ca_file;
  std::string token_file;
};

struct PrometheusConfigOptions {
  std::string environment;
  std::chrono::seconds scrape_interval{5};
  std::chrono::seconds evaluation_interval{5};
  std::vector<StaticTarget> targets;
  std::string replicas_file;            // the file_sd JSON of the replicas; "" : none
  std::optional<KubernetesPods> pods;   // the replicas as pods; nullopt: none
  std::string rules_file;               // "" : none
  std::vector<std::string> alertmanagers;  // host:port of each, where alerts go; none: nowhere
};

// prometheus.yml's text.
std::string PrometheusConfig(const PrometheusConfigOptions& options);

// For a Kubernetes environment of the spec: its pods and hut's (in-cluster
// discovery) and its rules at `rules_file`, scraped and evaluated every 15 s,
// alerts to the monitoring chart's Alertmanager (in_cluster.h).
// InvalidArgument for an environment whose runtime is not kubernetes (`hut
// up` writes the local one itself), NotFound for an unknown one.
absl::StatusOr<std::string> KubernetesPrometheusConfig(const spec::Spec& spec,
                                                       const std::string& environment,
                                                       const std::string& rules_file);

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
