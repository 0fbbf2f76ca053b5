#ifndef HUT_ALERTING_ROUTER_H_
#define HUT_ALERTING_ROUTER_H_

// What hut does with an alert, from Alertmanager (webhook.h) or from hut's
// own events (a rollout rolled back or failed): tracks it in the store (one
// open alert per label set) and queues, in the same transaction, the
// notifications its severity's policy asks for:
//   - page: a PagerDuty trigger, then acknowledge/resolve of the same
//     incident (dedup_key);
//   - chat: a Slack message when it fires and when it resolves;
//   - digest: nothing at once; the daily digest lists it.
// Each alert has a deadline from its severity's response time ("next
// business day" from the calendar). One not acknowledged by then is
// escalated: paged again, then up the escalation levels, each time with a
// new deadline, recorded as "alert.escalated". Acknowledging stops that.
// A notification's key names the alert and the step, so a repeat of the
// same notification (Alertmanager's repeats, a restart) queues nothing new.
// Thread-safe: calls run one at a time.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/alerting/calendar.h"
#include "src/alerting/webhook.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/spec/spec.h"
#include "src/store/store.h"

namespace hut::alerting {

inline constexpr char kPagerDuty[] = "pagerduty";
inline constexpr char kSlack[] = "slack";

struct RouterOptions {
  std::string environment;
  spec::AlertingPolicy policy;
  BusinessCalendar calendar;
  absl::TimeZone digest_zone;
  bool pagerduty = false;  // configured: page notifications are queued
  bool slack = false;      // configured: chat notifications and the digest are queued
  // Told of each alert that starts firing, once saved, outside the router's
  // lock (a rollout under way reacts to it); may be unset.
  std::function<void(const store::Alert&)> on_firing;
};

class AlertRouter {
 public:
  // `store`, `clock` must outlive it. `queued` is called after something was
  // queued (the dispatcher's Kick).
  AlertRouter(store::Store& store, const Clock& clock, Logger logger, RouterOptions options,
              std::function<void()> queued);

  // Records each alert that starts firing or resolves; returns how many
  // changed. An error when the store refused one (the caller answers 5xx:
  // Alertmanager sends the notification again; what was saved is not
  // saved twice).
  absl::StatusOr<int> Receive(const WebhookNotification& notification);

  // Acknowledges an open alert: no more escalation; PagerDuty acknowledges
  // its incidents. NotFound for an unknown id, FailedPrecondition for a
  // resolved one; acknowledging twice changes nothing.
  absl::StatusOr<store::Alert> Acknowledge(int64_t id, const std::string& by);

  // Escalates what is overdue at `now`, sends the digest when its time
  // came, and raises hut's own alerts from the events recorded since the
  // last tick (FollowEvents); returns when it next has something to do.
  TimePoint Tick(TimePoint now);

 private:
  // Records one alert's change; a newly firing one is added to `fired`.
  absl::StatusOr<bool> ReceiveOne(const ReceivedAlert& alert, const std::string& receiver,
                                  std::vector<store::Alert>& fired)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TellFired(const std::vector<store::Alert>& fired) ABSL_LOCKS_EXCLUDED(mu_);
  TimePoint RunTick(TimePoint now, std::vector<store::Alert>& fired) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Escalate(store::Alert alert, TimePoint now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SendDigest(TimePoint send_at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // hut's own alerts, from the environment's events: a rollout rolled back
  // (RolloutRolledBack, warning: told once, closed at once) and a rollout
  // that failed (RolloutFailed, high: paged, open until a later rollout of
  // the service succeeds).
  absl::Status FollowEvents(std::vector<store::Alert>& fired) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // secret.rotation-failed raises SecretRotationFailed; -finished ends it.
  absl::Status FollowRotation(const store::Event& e, std::vector<store::Alert>& fired)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // PagerDuty `action` ("acknowledge", "resolve") for every incident the
  // alert opened: its page and each escalation's.
  std::vector<store::Notification> IncidentActions(const store::Alert& alert,
                                                   const std::string& action) const;
  // The severity's policy (an unknown severity: warning's).
  const spec::SeverityPolicy& PolicyFor(const std::string& severity) const;
  // When an alert of `severity` raised at `from` must be acknowledged.
  std::optional<TimePoint> DeadlineFor(const std::string& severity, TimePoint from) const;
  // The digest's send time at or before `t`.
  TimePoint DigestAtOrBefore(TimePoint t) const;

  store::Store& store_;
  const Clock& clock_;
  Logger logger_;
  const RouterOptions options_;
  const std::function<void()> queued_;

  absl::Mutex mu_;
  TimePoint next_digest_ ABSL_GUARDED_BY(mu_);  // the next send time not yet handled
  int64_t events_seen_ ABSL_GUARDED_BY(mu_) = 0;  // FollowEvents read up to this id
};

}  // namespace hut::alerting

#endif  // HUT_ALERTING_ROUTER_H_
