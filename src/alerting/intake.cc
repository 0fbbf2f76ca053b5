#include "src/alerting/intake.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace hut::alerting {
namespace {

std::string Rfc3339(TimePoint t) {
  return absl::FormatTime(absl::RFC3339_full, absl::FromChrono(t), absl::UTCTimeZone());
}

}  // namespace

AlertIntake::AlertIntake(store::Store& store, std::string environment, const Clock& clock,
                         Logger logger)
    : store_(store),
      environment_(std::move(environment)),
      clock_(clock),
      logger_(std::move(logger)) {
  absl::StatusOr<int64_t> last = store_.LastEventId(environment_);
  absl::StatusOr<std::vector<store::Event>> recent =
      last.ok() ? store_.EventsAfter(std::max<int64_t>(0, *last - kRecallEvents), kRecallEvents,
                                     environment_)
                : absl::StatusOr<std::vector<store::Event>>(last.status());
  if (!recent.ok()) {
    logger_.Warn("alerts recorded before this start not read: an alert still firing is recorded "
                 "again",
                 {{"error", std::string(recent.status().message())}});
    return;
  }
  absl::MutexLock lock(&mu_);
  for (const store::Event& e : *recent) {  // oldest first: the last state wins
    if (e.type != "alert.firing" && e.type != "alert.resolved") continue;
    if (!e.data.contains("fingerprint") || !e.data["fingerprint"].is_string()) continue;
    firing_[e.data["fingerprint"].get<std::string>()] = e.type == "alert.firing";
  }
}

absl::StatusOr<int> AlertIntake::Receive(const WebhookNotification& notification) {
  absl::MutexLock lock(&mu_);
  int recorded = 0;
  for (const ReceivedAlert& a : notification.alerts) {
    auto seen = firing_.find(a.fingerprint);
    if (seen != firing_.end() && seen->second == a.firing) continue;
    const std::string name = a.Label("alertname");
    const std::string severity = a.Label("severity");
    const auto summary_it = a.annotations.find("summary");
    const std::string summary = summary_it == a.annotations.end() ? "" : summary_it->second;
    store::Event e;
    e.at = clock_.Now();
    e.environment = environment_;
    e.service = a.Label("service");
    e.type = a.firing ? "alert.firing" : "alert.resolved";
    e.message = absl::StrCat(name, severity.empty() ? "" : absl::StrCat(" (", severity, ")"),
                             a.firing ? " firing" : " resolved",
                             summary.empty() ? "" : absl::StrCat(": ", summary));
    e.data = {{"alertname", name},
              {"severity", severity},
              {"fingerprint", a.fingerprint},
              {"labels", a.labels},
              {"annotations", a.annotations},
              {"starts_at", Rfc3339(a.starts_at)},
              {"receiver", notification.receiver}};
    if (a.ends_at) e.data["ends_at"] = Rfc3339(*a.ends_at);
    if (!a.generator_url.empty()) e.data["generator_url"] = a.generator_url;
    absl::StatusOr<store::Event> stored = store_.AppendEvent(std::move(e));
    if (!stored.ok()) return stored.status();
    logger_.Info(stored->message, {{"service", stored->service}, {"event", stored->type}});
    firing_[a.fingerprint] = a.firing;
    ++recorded;
  }
  return recorded;
}

}  // namespace hut::alerting
