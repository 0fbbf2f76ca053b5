#ifndef HUT_ALERTING_DISPATCHER_H_
#define HUT_ALERTING_DISPATCHER_H_

// Sends the outbox (store.h's notifications) through the Notifiers, so that
// a receiver gets every notification once, as far as it can tell, and in
// order:
//   - a notification leaves the outbox only once its receiver took it (2xx)
//     or refused it as malformed (other 4xx: marked failed, and an
//     "alert.notification-refused" event names why); nothing else drops it;
//   - a lane (channel and recipient) sends in queue order: while its oldest
//     notification waits to be retried, the ones behind it wait too;
//   - retries back off (initial_backoff, doubling, at most max_backoff, or
//     the receiver's Retry-After) on timeouts, refused connections, 408, 429
//     and 5xx;
//   - a notification sent but not yet recorded as delivered (hut killed in
//     between) is sent again after a restart with the same dedup_key, which
//     PagerDuty folds into the same incident.
// RunOnce is the whole logic, on the Clock it is given (tests drive it);
// Start runs it on a thread whenever something is queued (Kick) or due.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/alerting/notifier.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/store/store.h"

namespace hut::alerting {

struct DispatcherOptions {
  std::string environment;
  Duration initial_backoff = std::chrono::seconds(1);
  Duration max_backoff = std::chrono::seconds(30);
  int batch = 200;  // notifications read per round
  // With no work in sight, how often the thread looks anyway: hut's own
  // events (the router's Tick follows them), a clock that jumped.
  Duration idle_poll = std::chrono::seconds(5);
};

struct DispatchCounts {
  uint64_t delivered = 0;
  uint64_t retried = 0;
  uint64_t refused = 0;
};

class Dispatcher {
 public:
  // Channel name ("pagerduty", "slack") -> its Notifier. `store`, `clock`
  // and the notifiers must outlive it.
  Dispatcher(store::Store& store, const Clock& clock, Logger logger,
             std::map<std::string, Notifier*> notifiers, DispatcherOptions options);
  ~Dispatcher();  // Stop()
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Sends what is due at `now`; returns when something next falls due
  // (TimePoint::max(): nothing waits). A store error ends the round early
  // (logged); what was not recorded is sent again next round.
  TimePoint RunOnce(TimePoint now);

  // Runs RunOnce, and `tick` before each round (escalations, the digest:
  // it returns when it next wants to run), on a thread until destruction.
  void Start(std::function<TimePoint(TimePoint now)> tick);
  // Something was queued: run a round now. Safe after Stop (does nothing).
  void Kick();
  // Stops the thread after its round in progress; idempotent.
  void Stop();

  DispatchCounts counts() const;

 private:
  void Loop();
  Duration Backoff(int attempts) const;

  store::Store& store_;
  const Clock& clock_;
  Logger logger_;
  const std::map<std::string, Notifier*> notifiers_;
  const DispatcherOptions options_;
  std::function<TimePoint(TimePoint)> tick_;

  std::atomic<uint64_t> delivered_{0}, retried_{0}, refused_{0};

  absl::Mutex mu_;
  bool kicked_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hut::alerting

#endif  // HUT_ALERTING_DISPATCHER_H_
