#ifndef HUT_ALERTING_INTAKE_H_
#define HUT_ALERTING_INTAKE_H_

// What hut does with Alertmanager's notifications (webhook.h): each alert
// that starts firing or resolves becomes an event of the environment's audit
// log, "alert.firing" or "alert.resolved", with its labels and annotations.
// Alertmanager sends a firing alert again whenever its group changes and
// every repeat interval: an alert already recorded in that state is not
// recorded again, across restarts too (the last state of each alert is read
// back at start from the environment's events among the newest
// kRecallEvents ids). Thread-safe.

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/alerting/webhook.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/store/store.h"

namespace hut::alerting {

class AlertIntake {
 public:
  // How far back the start looks for what was recorded.
  static constexpr int kRecallEvents = 10'000;

  // `store`, `clock` must outlive it. A store that cannot be read at start
  // only costs repeats (logged).
  AlertIntake(store::Store& store, std::string environment, const Clock& clock, Logger logger);

  // The events recorded; an error when the store refused one (the caller
  // answers 5xx: Alertmanager sends the notification again).
  absl::StatusOr<int> Receive(const WebhookNotification& notification);

 private:
  store::Store& store_;
  const std::string environment_;
  const Clock& clock_;
  Logger logger_;
  absl::Mutex mu_;  // one notification at a time: its events in order
  std::map<std::string, bool> firing_ ABSL_GUARDED_BY(mu_);  // fingerprint -> recorded state
};

}  // namespace hut::alerting

#endif  // HUT_ALERTING_INTAKE_H_
