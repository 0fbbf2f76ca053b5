#ifndef HUT_ALERTING_WEBHOOK_H_
#define HUT_ALERTING_WEBHOOK_H_

// Alertmanager's webhook notification (its documented payload, version 4),
// read and checked: a notification hut cannot act on is refused with the
// field that is wrong, so that Alertmanager keeps it and retries.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/clock.h"

namespace hut::alerting {

using Labels = std::map<std::string, std::string>;

struct ReceivedAlert {
  bool firing = true;  // "firing", else "resolved"
  Labels labels;       // alertname, severity, environment, service, …
  Labels annotations;  // summary, description, runbook_url, …
  TimePoint starts_at;
  std::optional<TimePoint> ends_at;  // Alertmanager's zero time: none
  std::string generator_url;
  std::string fingerprint;  // Alertmanager's: the same for the same label set

  std::string Label(const std::string& name) const;
};

struct WebhookNotification {
  std::string receiver;   // the route's receiver (hut-page, hut-chat, hut-digest)
  bool firing = true;     // the group's status
  std::string group_key;
  int64_t truncated_alerts = 0;
  Labels group_labels, common_labels, common_annotations;
  std::string external_url;
  std::vector<ReceivedAlert> alerts;
};

// InvalidArgument naming the field (e.g. "alerts[2].startsAt: …") for a body
// that is not such a notification.
absl::StatusOr<WebhookNotification> ParseWebhookNotification(std::string_view body);

}  // namespace hut::alerting

#endif  // HUT_ALERTING_WEBHOOK_H_
