#ifndef HUT_MONITORING_ALERTMANAGER_CONFIG_H_
#define HUT_MONITORING_ALERTMANAGER_CONFIG_H_

// The configuration of an environment's Alertmanager, generated from the
// spec's alerting policy (policies.alerting.severities), so that routing is
// written once:
//   - alerts are grouped by alertname, environment and service;
//   - one route per severity, with the severity's group_wait, group_interval
//     and repeat_interval, to the receiver of its channel (hut-page, hut-chat,
//     hut-digest);
//   - a critical alert inhibits every less severe one of the same
//     environment and service (HighErrorRate silences ElevatedErrorRate);
//   - every receiver is hut's webhook (Alertmanager's webhook payload,
//     version 4), resolved alerts included: hut pages, posts and collects the
//     digest itself, holding the team to each severity's response time.

#include <string>

#include "absl/status/statusor.h"
#include "src/spec/spec.h"

namespace hut::monitoring {

struct AlertmanagerConfigOptions {
  std::string environment;
  // hut's webhook, e.g. http://127.0.0.1:7480/api/v1/alerts/webhook.
  std::string webhook_url;
  // A file holding the bearer token Alertmanager presents to hut; "": none.
  std::string credentials_file;
};

// alertmanager.yml's text.
std::string AlertmanagerConfig(const spec::AlertingPolicy& policy,
                               const AlertmanagerConfigOptions& options);

// The path of hut's webhook on its control API.
inline constexpr char kAlertWebhookPath[] = "/api/v1/alerts/webhook";

// For an environment of the spec: its policy, and hut's webhook at
// `webhook_url`. NotFound for an unknown environment.
absl::StatusOr<std::string> AlertmanagerConfigFor(const spec::Spec& spec,
                                                  const std::string& environment,
                                                  const std::string& webhook_url,
                                                  const std::string& credentials_file);

// For a Kubernetes environment of the spec, as the monitoring chart runs it:
// hut's webhook on the hut chart's Service, the token from the Secret the
// chart mounts (in_cluster.h). InvalidArgument for an environment whose
// runtime is not kubernetes (`hut up` writes the local one itself), NotFound
// for an unknown one.
absl::StatusOr<std::string> KubernetesAlertmanagerConfig(const spec::Spec& spec,
                                                         const std::string& environment);

}  // namespace hut::monitoring

#endif  // HUT_MONITORING_ALERTMANAGER_CONFIG_H_
