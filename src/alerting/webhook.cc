#include "src/alerting/webhook.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace hut::alerting {
namespace {

using json = nlohmann::json;

absl::Status Bad(const std::string& where, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", std::string(what)));
}

absl::StatusOr<std::string> String(const json& object, const char* key, const std::string& where,
                                   bool required = true) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (!required) return std::string();
    return Bad(absl::StrCat(where, key), "missing");
  }
  if (!it->is_string()) return Bad(absl::StrCat(where, key), "expected a string");
  return it->get<std::string>();
}

absl::StatusOr<Labels> StringMap(const json& object, const char* key, const std::string& where) {
  Labels out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_object()) return Bad(absl::StrCat(where, key), "expected an object of strings");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return Bad(absl::StrCat(where, key, ".", k), "expected a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

absl::StatusOr<bool> Status(const json& object, const std::string& where) {
  auto s = String(object, "status", where);
  if (!s.ok()) return s.status();
  if (*s == "firing") return true;
  if (*s == "resolved") return false;
  return Bad(absl::StrCat(where, "status"),
             absl::StrCat("\"", *s, "\" is neither firing nor resolved"));
}

// RFC 3339; Alertmanager writes the zero time (year 1) for "not ended".
absl::StatusOr<std::optional<TimePoint>> Time(const json& object, const char* key,
                                              const std::string& where, bool required) {
  auto text = String(object, key, where, required);
  if (!text.ok()) return text.status();
  if (text->empty()) return std::optional<TimePoint>();
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, *text, &t, &error)) {
    return Bad(absl::StrCat(where, key), absl::StrCat("\"", *text, "\" is not an RFC 3339 time"));
  }
  if (t < absl::FromCivil(absl::CivilYear(1970), absl::UTCTimeZone())) {
    return std::optional<TimePoint>();
  }
  return std::optional<TimePoint>(absl::ToChronoTime(t));
}

}  // namespace

std::string ReceivedAlert::Label(const std::string& name) const {
  auto it = labels.find(name);
  return it == labels.end() ? "" : it->second;
}

absl::StatusOr<WebhookNotification> ParseWebhookNotification(std::string_view body) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Bad("body", "not a JSON object");
  WebhookNotification n;
  auto version = String(j, "version", "");
  if (!version.ok()) return version.status();
  if (*version != "4") {
    return Bad("version", absl::StrCat("\"", *version, "\" (expected \"4\", Alertmanager's)"));
  }
  auto receiver = String(j, "receiver", "");
  if (!receiver.ok()) return receiver.status();
  n.receiver = *receiver;
  auto firing = Status(j, "");
  if (!firing.ok()) return firing.status();
  n.firing = *firing;
  auto group_key = String(j, "groupKey", "", /*required=*/false);
  if (!group_key.ok()) return group_key.status();
  n.group_key = *group_key;
  if (auto t = j.find("truncatedAlerts"); t != j.end()) {
    if (!t->is_number_integer() || t->get<int64_t>() < 0) {
      return Bad("truncatedAlerts", "expected a count");
    }
    n.truncated_alerts = t->get<int64_t>();
  }
  for (auto [key, out] : {std::pair{"groupLabels", &n.group_labels},
                          std::pair{"commonLabels", &n.common_labels},
                          std::pair{"commonAnnotations", &n.common_annotations}}) {
    auto m = StringMap(j, key, "");
    if (!m.ok()) return m.status();
    *out = std::move(*m);
  }
  auto external = String(j, "externalURL", "", /*required=*/false);
  if (!external.ok()) return external.status();
  n.external_url = *external;
  auto alerts = j.find("alerts");
  if (alerts == j.end() || !alerts->is_array()) return Bad("alerts", "expected an array");
  for (size_t i = 0; i < alerts->size(); ++i) {
    const json& a = (*alerts)[i];
    const std::string where = absl::StrCat("alerts[", i, "].");
    if (!a.is_object()) return Bad(absl::StrCat("alerts[", i, "]"), "expected an object");
    ReceivedAlert r;
    auto alert_firing = Status(a, where);
    if (!alert_firing.ok()) return alert_firing.status();
    r.firing = *alert_firing;
    auto labels = StringMap(a, "labels", where);
    if (!labels.ok()) return labels.status();
    r.labels = std::move(*labels);
    if (!r.labels.contains("alertname")) return Bad(where + "labels.alertname", "missing");
    auto annotations = StringMap(a, "annotations", where);
    if (!annotations.ok()) return annotations.status();
    r.annotations = std::move(*annotations);
    auto starts = Time(a, "startsAt", where, /*required=*/true);
    if (!starts.ok()) return starts.status();
    if (!*starts) return Bad(where + "startsAt", "the zero time (expected when it began)");
    r.starts_at = **starts;
    auto ends = Time(a, "endsAt", where, /*required=*/false);
    if (!ends.ok()) return ends.status();
    r.ends_at = *ends;
    auto url = String(a, "generatorURL", where, /*required=*/false);
    if (!url.ok()) return url.status();
    r.generator_url = *url;
    auto fingerprint = String(a, "fingerprint", where);
    if (!fingerprint.ok()) return fingerprint.status();
    if (fingerprint->empty()) return Bad(where + "fingerprint", "empty");
    r.fingerprint = *fingerprint;
    n.alerts.push_back(std::move(r));
  }
  return n;
}

}  // namespace hut::alerting
