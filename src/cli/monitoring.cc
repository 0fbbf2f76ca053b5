#include "src/cli/monitoring.h"

#include <functional>

#include "src/cli/validate.h"
#include "src/monitoring/alertmanager_config.h"
#include "src/monitoring/prometheus_config.h"
#include "src/monitoring/prometheus_rules.h"
#include "src/spec/load.h"

namespace hut::cli {

namespace {

constexpr char kLocalWebhook[] = "http://127.0.0.1:7480/api/v1/alerts/webhook";

// Loads the spec and prints what `make` makes of it, or the problems.
int Print(const std::string& command, const std::string& file,
          const std::function<absl::StatusOr<std::string>(const spec::Spec&)>& make,
          const Io& io) {
  const std::string path = SpecPath(file, io);
  spec::LoadResult loaded = spec::LoadSpecFile(path);
  if (!loaded.ok()) {
    for (const spec::Problem& p : loaded.problems) io.err << p.ToString() << "\n";
    io.err << command << ": " << path << " is not a valid spec (hut validate)\n";
    return kExitFailure;
  }
  absl::StatusOr<std::string> text = make(*loaded.spec);
  if (!text.ok()) {
    io.err << command << ": " << text.status().message() << "\n";
    return kExitFailure;
  }
  io.out << *text;
  return kExitOk;
}

}  // namespace

int RunMonitoringRules(const MonitoringRulesOptions& options, const Io& io) {
  return Print("hut monitoring rules", options.file, [&](const spec::Spec& s) {
    return monitoring::PrometheusRules(s, options.environment);
  }, io);
}

int RunMonitoringConfig(const MonitoringConfigOptions& options, const Io& io) {
  return Print("hut monitoring config", options.file, [&](const spec::Spec& s) {
    return monitoring::KubernetesPrometheusConfig(s, options.environment, options.rules_file);
  }, io);
}

int RunMonitoringAlertmanager(const MonitoringAlertmanagerOptions& options, const Io& io) {
  return Print("hut monitoring alertmanager", options.file, [&](const spec::Spec& s) {
    const spec::Environment* env = s.FindEnvironment(options.environment);
    const bool in_cluster = env != nullptr && env->runtime == spec::Runtime::kKubernetes;
    if (in_cluster && options.webhook_url.empty() && options.credentials_file.empty()) {
      return monitoring::KubernetesAlertmanagerConfig(s, options.environment);
    }
    return monitoring::AlertmanagerConfigFor(
        s, options.environment,
        options.webhook_url.empty() ? kLocalWebhook : options.webhook_url,
        options.credentials_file);
  }, io);
}

}  // namespace hut::cli
