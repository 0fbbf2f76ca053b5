#include "src/monitoring/prometheus_config.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/monitoring/in_cluster.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace hut::monitoring {
namespace {

std::string Interval(std::chrono::seconds s) { return absl::StrCat(s.count(), "s"); }

void Relabel(YAML::Emitter& out, const std::string& source, const std::string& target) {
  out << YAML::BeginMap << YAML::Key << "source_labels" << YAML::Value << YAML::Flow
      << YAML::BeginSeq << source << YAML::EndSeq << YAML::Key << "target_label" << YAML::Value
      << target << YAML::EndMap;
}

void Keep(YAML::Emitter& out, const std::string& source, const std::string& regex) {
  out << YAML::BeginMap << YAML::Key << "source_labels" << YAML::Value << YAML::Flow
      << YAML::BeginSeq << source << YAML::EndSeq << YAML::Key << "action" << YAML::Value
      << "keep" << YAML::Key << "regex" << YAML::Value << regex << YAML::EndMap;
}

// A job of pods found through the API server in one namespace, those whose
// label `app_label` (its meta name) is set, on their container port http;
// labelled namespace, pod and environment, and whatever `relabels` adds.
void EmitPodJob(YAML::Emitter& out, const std::string& job, const std::string& environment,
                const KubernetesPods& access, const std::string& namespace_,
                const std::string& app_label, const std::string& app_regex,
                const std::vector<std::pair<std::string, std::string>>& relabels) {
  out << YAML::BeginMap;
  out << YAML::Key << "job_name" << YAML::Value << job;
  out << YAML::Key << "kubernetes_sd_configs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "role" << YAML::Value << "pod";
  if (!access.api_server.empty()) {
    out << YAML::Key << "api_server" << YAML::Value << access.api_server;
    out << YAML::Key << "tls_config" << YAML::Value << YAML::BeginMap << YAML::Key << "ca_file"
        << YAML::Value << access.ca_file << YAML::EndMap;
    out << YAML::Key << "authorization" << YAML::Value << YAML::BeginMap << YAML::Key
        << "credentials_file" << YAML::Value << access.token_file << YAML::EndMap;
  }
  out << YAML::Key << "namespaces" << YAML::Value << YAML::BeginMap << YAML::Key << "names"
      << YAML::Value << YAML::Flow << YAML::BeginSeq << namespace_ << YAML::EndSeq
      << YAML::EndMap;
  out << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "relabel_configs" << YAML::Value << YAML::BeginSeq;
  Keep(out, app_label, app_regex);
  Keep(out, "__meta_kubernetes_pod_container_port_name", "http");
  Relabel(out, "__meta_kubernetes_namespace", "namespace");
  Relabel(out, "__meta_kubernetes_pod_name", "pod");
  for (const auto& [source, target] : relabels) Relabel(out, source, target);
  out << YAML::BeginMap << YAML::Key << "target_label" << YAML::Value << "environment"
      << YAML::Key << "replacement" << YAML::Value << environment << YAML::EndMap;
  out << YAML::EndSeq << YAML::EndMap;
}

void EmitPods(YAML::Emitter& out, const std::string& environment, const KubernetesPods& pods) {
  // hut's services' pods, labelled by the contract.
  EmitPodJob(out, "pods", environment, pods, pods.namespace_,
             "__meta_kubernetes_pod_label_hut_foohut_dev_service", ".+",
             {{"__meta_kubernetes_pod_label_hut_foohut_dev_service", "service"},
              {"__meta_kubernetes_pod_label_hut_foohut_dev_revision", "revision"},
              {"__meta_kubernetes_pod_annotation_hut_foohut_dev_version", "version"}});
  // hut's own pod (the hut chart's), whose /metrics needs no token.
  if (!pods.hut_namespace.empty()) {
    EmitPodJob(out, "hut", environment, pods, pods.hut_namespace,
               "__meta_kubernetes_pod_label_app_kubernetes_io_name", "hut", {});
  }
}

}  // namespace

std::string PrometheusConfig(const PrometheusConfigOptions& options) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "global" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "scrape_interval" << YAML::Value << Interval(options.scrape_interval);
  out << YAML::Key << "evaluation_interval" << YAML::Value
      << Interval(options.evaluation_interval);
  out << YAML::Key << "external_labels" << YAML::Value << YAML::BeginMap << YAML::Key
      << "environment" << YAML::Value << options.environment << YAML::EndMap;
  out << YAML::EndMap;
  if (!options.alertmanagers.empty()) {
    out << YAML::Key << "alerting" << YAML::Value << YAML::BeginMap << YAML::Key
        << "alertmanagers" << YAML::Value << YAML::BeginSeq << YAML::BeginMap << YAML::Key
        << "static_configs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap << YAML::Key
        << "targets" << YAML::Value << YAML::Flow << options.alertmanagers << YAML::EndMap
        << YAML::EndSeq << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  }
  if (!options.rules_file.empty()) {
    out << YAML::Key << "rule_files" << YAML::Value << YAML::BeginSeq << options.rules_file
        << YAML::EndSeq;
  }
  out << YAML::Key << "scrape_configs" << YAML::Value << YAML::BeginSeq;
  // external_labels reach only what leaves this Prometheus: the label is set
  // on every target too, so that the rules and queries here select by it.
  for (const StaticTarget& t : options.targets) {
    out << YAML::BeginMap;
    out << YAML::Key << "job_name" << YAML::Value << t.job;
    out << YAML::Key << "metrics_path" << YAML::Value << t.metrics_path;
    out << YAML::Key << "static_configs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    out << YAML::Key << "targets" << YAML::Value << YAML::Flow << YAML::BeginSeq << t.address
        << YAML::EndSeq;
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "environment" << YAML::Value << options.environment;
    for (const auto& [k, v] : t.labels) out << YAML::Key << k << YAML::Value << v;
    out << YAML::EndMap << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  }
  if (!options.replicas_file.empty()) {
    out << YAML::BeginMap;
    out << YAML::Key << "job_name" << YAML::Value << "replicas";
    out << YAML::Key << "file_sd_configs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    out << YAML::Key << "files" << YAML::Value << YAML::Flow << YAML::BeginSeq
        << options.replicas_file << YAML::EndSeq;
    // Changes are seen at once (inotify); the refresh is the fallback.
    out << YAML::Key << "refresh_interval" << YAML::Value << "30s";
    out << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  }
  if (options.pods) EmitPods(out, options.environment, *options.pods);
  out << YAML::EndSeq << YAML::EndMap;
  return absl::StrCat("# Written by hut for environment ", options.environment, ".\n",
                      out.c_str(), "\n");
}

absl::StatusOr<std::string> KubernetesPrometheusConfig(const spec::Spec& spec,
                                                       const std::string& environment,
                                                       const std::string& rules_file) {
  const spec::Environment* env = spec.FindEnvironment(environment);
  if (env == nullptr) {
    return absl::NotFoundError(absl::StrCat("no environment ", environment, " in the spec"));
  }
  if (env->runtime != spec::Runtime::kKubernetes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "environment ", environment, " runs on the ", std::string(spec::Name(env->runtime)),
        " runtime; `hut up` writes its Prometheus configuration itself (STATE/prometheus/)"));
  }
  PrometheusConfigOptions o;
  o.environment = env->name;
  o.scrape_interval = o.evaluation_interval = std::chrono::seconds(15);
  o.pods = KubernetesPods{.namespace_ = env->namespace_, .hut_namespace = kHutNamespace,
                          .api_server = "", .ca_file = "", .token_file = ""};
  o.rules_file = rules_file;
  o.alertmanagers = {kAlertmanagerAddress};
  return PrometheusConfig(o);
}

std::string ReplicaTargets(const std::string& environment,
                           const std::vector<ReplicaTarget>& replicas) {
  nlohmann::json groups = nlohmann::json::array();
  for (const ReplicaTarget& r : replicas) {
    groups.push_back({{"targets", {r.address}},
                      {"labels",
                       {{"environment", environment},
                        {"service", r.service},
                        {"version", r.version},
                        {"revision", std::to_string(r.revision)},
                        {"replica", r.replica}}}});
  }
  return groups.dump(2) + "\n";
}

}  // namespace hut::monitoring
