#include "src/monitoring/prometheus_config.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace hut::monitoring {
namespace {

std::string Interval(std::chrono::seconds s) { return absl::StrCat(s.count(), "s"); }

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
  out << YAML::BeginMap;
  out << YAML::Key << "job_name" << YAML::Value << "replicas";
  out << YAML::Key << "file_sd_configs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "files" << YAML::Value << YAML::Flow << YAML::BeginSeq
      << options.replicas_file << YAML::EndSeq;
  // Changes are seen at once (inotify); the refresh is the fallback.
  out << YAML::Key << "refresh_interval" << YAML::Value << "30s";
  out << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  out << YAML::EndSeq << YAML::EndMap;
  return absl::StrCat("# Written by hut for environment ", options.environment,
                      "; rewritten at every start.\n", out.c_str(), "\n");
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
