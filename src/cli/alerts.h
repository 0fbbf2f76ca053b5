#ifndef HUT_CLI_ALERTS_H_
#define HUT_CLI_ALERTS_H_

// `hut alerts list [--env E] [--state firing|acked|resolved] [-o json]` and
// `hut alerts ack ID [--by NAME]`: the alerts hut tracks (docs/alerting.md),
// with their deadlines and escalations, and acknowledging one (which stops
// its escalation and acknowledges its PagerDuty incidents).

#include <cstdint>
#include <string>

#include "src/cli/cli.h"

namespace hut::cli {

struct AlertsListOptions {
  std::string environment;
  std::string state;  // "" : every state
  int limit = 100;
  bool json = false;
};

struct AlertsAckOptions {
  std::string environment;
  int64_t id = 0;
  std::string by;  // default: $USER
  bool json = false;
};

int RunAlertsList(const AlertsListOptions& options, const Io& io);
int RunAlertsAck(const AlertsAckOptions& options, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_ALERTS_H_
