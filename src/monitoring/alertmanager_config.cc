#include "src/monitoring/alertmanager_config.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/common/units.h"
#include "src/monitoring/in_cluster.h"
#include "yaml-cpp/yaml.h"

namespace hut::monitoring {
namespace {

constexpr spec::Severity kAll[] = {spec::Severity::kCritical, spec::Severity::kHigh,
                                   spec::Severity::kMedium,   spec::Severity::kLow,
                                   spec::Severity::kWarning,  spec::Severity::kInfo};

std::string Receiver(spec::AlertChannel channel) {
  return absl::StrCat("hut-", std::string(spec::Name(channel)));
}

std::string Matcher(const std::string& label, const std::string& value) {
  return absl::StrCat(label, "=\"", value, "\"");
}

void Timings(YAML::Emitter& out, const spec::SeverityPolicy& p) {
  out << YAML::Key << "group_wait" << YAML::Value << FormatDuration(p.group_wait);
  out << YAML::Key << "group_interval" << YAML::Value << FormatDuration(p.group_interval);
  out << YAML::Key << "repeat_interval" << YAML::Value << FormatDuration(p.repeat_interval);
}

}  // namespace

std::string AlertmanagerConfig(const spec::AlertingPolicy& policy,
                               const AlertmanagerConfigOptions& options) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "route" << YAML::Value << YAML::BeginMap;
  // An alert without a known severity goes where warnings go.
  const spec::SeverityPolicy& fallback = policy.For(spec::Severity::kWarning);
  out << YAML::Key << "receiver" << YAML::Value << Receiver(fallback.notify);
  out << YAML::Key << "group_by" << YAML::Value << YAML::Flow << YAML::BeginSeq << "alertname"
      << "environment"
      << "service" << YAML::EndSeq;
  Timings(out, fallback);
  out << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
  for (spec::Severity s : kAll) {
    const spec::SeverityPolicy& p = policy.For(s);
    out << YAML::BeginMap;
    out << YAML::Key << "matchers" << YAML::Value << YAML::Flow << YAML::BeginSeq
        << Matcher("severity", std::string(spec::Name(s))) << YAML::EndSeq;
    out << YAML::Key << "receiver" << YAML::Value << Receiver(p.notify);
    Timings(out, p);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;

  // The critical alert of a service says it all: the lesser ones of the same
  // service wait until it resolves.
  std::vector<std::string> lesser;
  for (spec::Severity s : kAll) {
    if (s != spec::Severity::kCritical) lesser.emplace_back(spec::Name(s));
  }
  out << YAML::Key << "inhibit_rules" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "source_matchers" << YAML::Value << YAML::Flow << YAML::BeginSeq
      << Matcher("severity", "critical") << YAML::EndSeq;
  out << YAML::Key << "target_matchers" << YAML::Value << YAML::Flow << YAML::BeginSeq
      << absl::StrCat("severity=~\"", absl::StrJoin(lesser, "|"), "\"") << YAML::EndSeq;
  out << YAML::Key << "equal" << YAML::Value << YAML::Flow << YAML::BeginSeq << "environment"
      << "service" << YAML::EndSeq;
  out << YAML::EndMap << YAML::EndSeq;

  std::set<std::string> receivers;
  receivers.insert(Receiver(fallback.notify));
  for (spec::Severity s : kAll) receivers.insert(Receiver(policy.For(s).notify));
  out << YAML::Key << "receivers" << YAML::Value << YAML::BeginSeq;
  for (const std::string& name : receivers) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << name;
    out << YAML::Key << "webhook_configs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    out << YAML::Key << "url" << YAML::Value << options.webhook_url;
    out << YAML::Key << "send_resolved" << YAML::Value << true;
    if (!options.credentials_file.empty()) {
      out << YAML::Key << "http_config" << YAML::Value << YAML::BeginMap << YAML::Key
          << "authorization" << YAML::Value << YAML::BeginMap << YAML::Key << "type"
          << YAML::Value << "Bearer" << YAML::Key << "credentials_file" << YAML::Value
          << options.credentials_file << YAML::EndMap << YAML::EndMap;
    }
    out << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
  return absl::StrCat("# Written by hut for environment ", options.environment,
                      " from the spec's policies.alerting.\n", out.c_str(), "\n");
}

absl::StatusOr<std::string> AlertmanagerConfigFor(const spec::Spec& spec,
                                                  const std::string& environment,
                                                  const std::string& webhook_url,
                                                  const std::string& credentials_file) {
  const spec::Environment* env = spec.FindEnvironment(environment);
  if (env == nullptr) {
    return absl::NotFoundError(absl::StrCat("no environment ", environment, " in the spec"));
  }
  return AlertmanagerConfig(env->policies.alerting, {.environment = env->name,
                                                     .webhook_url = webhook_url,
                                                     .credentials_file = credentials_file});
}

absl::StatusOr<std::string> KubernetesAlertmanagerConfig(const spec::Spec& spec,
                                                         const std::string& environment) {
  const spec::Environment* env = spec.FindEnvironment(environment);
  if (env != nullptr && env->runtime != spec::Runtime::kKubernetes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "environment ", environment, " runs on the ", std::string(spec::Name(env->runtime)),
        " runtime; `hut up` writes its Alertmanager configuration itself (STATE/alertmanager/)"));
  }
  return AlertmanagerConfigFor(spec, environment,
                               absl::StrCat(kHutServiceUrl, kAlertWebhookPath),
                               kAlertmanagerTokenFile);
}

}  // namespace hut::monitoring
