#ifndef HUT_ALERTING_MESSAGES_H_
#define HUT_ALERTING_MESSAGES_H_

// What hut sends about an alert, in each channel's documented wire format:
//   - PagerDuty Events API v2 (POST .../v2/enqueue): an event that triggers
//     or resolves the incident of the alert's dedup key;
//   - a Slack incoming webhook: a message in Block Kit.
// Pure functions: delivery (retries, the outbox) is not theirs.

#include <string>
#include <vector>

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

// A PagerDuty event that acknowledges or resolves the incident of
// `dedup_key` ("acknowledge", "resolve"): routing_key, event_action,
// dedup_key only.
nlohmann::json PagerDutyAction(const std::string& routing_key, const std::string& action,
                               const std::string& dedup_key);

// One line of the daily digest.
struct DigestEntry {
  std::string name, service, summary;
  TimePoint at;
  bool resolved = false;
};

// The daily digest as a Slack message: a header naming the environment, the
// day and how many info alerts it had, then one line per alert (at most
// 40, then how many more) or a line saying there were none.
nlohmann::json SlackDigest(const std::string& environment, const std::string& day,
                           const std::vector<DigestEntry>& entries);

// A Slack message: a header with the state and the alert, a section with the
// summary and the fields (severity, service, environment, since), and
// buttons to the runbook and the source when they are URLs; `text` is the
// fallback notifications show.
nlohmann::json SlackMessage(const std::string& environment, const ReceivedAlert& alert);

}  // namespace hut::alerting

#endif  // HUT_ALERTING_MESSAGES_H_
