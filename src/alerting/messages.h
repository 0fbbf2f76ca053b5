#ifndef HUT_ALERTING_MESSAGES_H_
#define HUT_ALERTING_MESSAGES_H_

// What hut sends about an alert, in each channel's documented wire format:
//   - PagerDuty Events API v2 (POST .../v2/enqueue): an event that triggers
//     or resolves the incident of the alert's dedup key;
//   - a Slack incoming webhook: a message in Block Kit.
// Pure functions: delivery (retries, the outbox) is not theirs.

#include <string>

#include "nlohmann/json.hpp"
#include "src/alerting/webhook.h"

namespace hut::alerting {

// The same for every message about one alert of one environment, so that
// PagerDuty and the receiver's logs tie a resolve to its trigger (at most
// 255 characters, PagerDuty's limit).
std::string DedupKey(const std::string& environment, const ReceivedAlert& alert);

// PagerDuty's severity for ours: critical stays critical, high is error,
// medium, low and warning are warning, info is info.
std::string PagerDutySeverity(const std::string& severity);

// A PagerDuty Events API v2 event: "trigger" for a firing alert (payload
// summary, source, severity, timestamp, component, group, class,
// custom_details; links to the runbook and the alert's source when they are
// URLs), "resolve" for a resolved one (routing_key, dedup_key only).
nlohmann::json PagerDutyEvent(const std::string& routing_key, const std::string& environment,
                              const ReceivedAlert& alert);

// A Slack message: a header with the state and the alert, a section with the
// summary and the fields (severity, service, environment, since), and
// buttons to the runbook and the source when they are URLs; `text` is the
// fallback notifications show.
nlohmann::json SlackMessage(const std::string& environment, const ReceivedAlert& alert);

}  // namespace hut::alerting

#endif  // HUT_ALERTING_MESSAGES_H_
