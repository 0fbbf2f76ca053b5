#ifndef HUT_CLI_MONITORING_H_
#define HUT_CLI_MONITORING_H_

#include <string>

#include "src/cli/cli.h"

namespace hut::cli {

struct MonitoringRulesOptions {
  std::string file;         // the spec; "" : $HUT_SPEC, else foohut.yaml
  std::string environment;  // "" : every environment
};

// `hut monitoring rules`: prints the Prometheus rules file generated from the
// spec (src/monitoring/prometheus_rules.h) on io.out. A bad spec or an unknown
// environment: the problems on io.err, kExitFailure.
int RunMonitoringRules(const MonitoringRulesOptions& options, const Io& io);

struct MonitoringConfigOptions {
  std::string file;         // the spec; "" : $HUT_SPEC, else foohut.yaml
  std::string environment;  // a kubernetes environment
  std::string rules_file;   // where the config says the rules are
};

// `hut monitoring config --env E`: prints the Prometheus configuration of a
// Kubernetes environment (its pods, its rules). Errors as above.
int RunMonitoringConfig(const MonitoringConfigOptions& options, const Io& io);

struct MonitoringAlertmanagerOptions {
  std::string file;         // the spec; "" : $HUT_SPEC, else foohut.yaml
  std::string environment;
  std::string webhook_url;  // hut's alert webhook; "" : see below
  std::string credentials_file;  // the bearer token Alertmanager sends hut; "" : none
};

// `hut monitoring alertmanager --env E`: prints the Alertmanager
// configuration generated from the environment's alerting policy
// (src/monitoring/alertmanager_config.h). Without --webhook and
// --credentials-file, a kubernetes environment's is the monitoring chart's
// (hut's in-cluster Service, the mounted token); otherwise the webhook
// defaults to 127.0.0.1:7480. Errors as above.
int RunMonitoringAlertmanager(const MonitoringAlertmanagerOptions& options, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_MONITORING_H_
