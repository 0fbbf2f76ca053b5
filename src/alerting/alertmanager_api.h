#ifndef HUT_ALERTING_ALERTMANAGER_API_H_
#define HUT_ALERTING_ALERTMANAGER_API_H_

// What hut asks of Alertmanager through its API v2 (api/v2/openapi.yaml):
// silences (`hut alerts silence`) and an alert of hut's own sent through the
// whole chain (`hut alerts test`).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/alerting/webhook.h"
#include "src/common/clock.h"

namespace hut::alerting {

struct Matcher {
  std::string name, value;
  bool equal = true;  // = (else !=)
};

// "service=backend", "severity!=info": InvalidArgument naming the text otherwise.
absl::StatusOr<Matcher> ParseMatcher(const std::string& text);

struct SilenceRequest {
  std::vector<Matcher> matchers;  // at least one
  TimePoint starts_at, ends_at;   // ends after it starts
  std::string created_by, comment;  // both required by Alertmanager
};

// POST /api/v2/silences; returns the silence's id. Alertmanager's refusal
// (400) is InvalidArgument with its message.
absl::StatusOr<std::string> CreateSilence(const std::string& alertmanager_url,
                                          const SilenceRequest& request);

// POST /api/v2/alerts with one alert, firing from `starts_at` until `ends_at`.
absl::Status PostAlert(const std::string& alertmanager_url, const Labels& labels,
                       const Labels& annotations, TimePoint starts_at, TimePoint ends_at);

}  // namespace hut::alerting

#endif  // HUT_ALERTING_ALERTMANAGER_API_H_
