#ifndef HUT_CLI_ALERTS_H_
#define HUT_CLI_ALERTS_H_

// `hut alerts list [--env E] [--state firing|acked|resolved] [-o json]`,
// `hut alerts ack ID [--by NAME]`, `hut alerts silence --match service=backend
// --for 2h --comment TEXT` and `hut alerts test SEVERITY [--service S]`: the
// alerts hut tracks (docs/alerting.md), with their deadlines and
// escalations; acknowledging one (its escalation stops, PagerDuty
// acknowledges its incidents); a silence in Alertmanager; a test alert sent
// through the whole chain.

#include <cstdint>
#include <string>
#include <vector>

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

struct AlertsSilenceOptions {
  std::string environment;
  std::vector<std::string> matchers;  // --match NAME=VALUE, repeatable
  std::string length;                 // --for 2h
  std::string comment;
  std::string by;  // default: $USER
};

struct AlertsTestOptions {
  std::string environment;
  std::string severity;
  std::string service;  // "" : about no service
  bool json = false;
};

int RunAlertsList(const AlertsListOptions& options, const Io& io);
int RunAlertsAck(const AlertsAckOptions& options, const Io& io);
int RunAlertsSilence(const AlertsSilenceOptions& options, const Io& io);
int RunAlertsTest(const AlertsTestOptions& options, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_ALERTS_H_
