#ifndef HUT_SECRETS_ROTATION_SCHEDULER_H_
#define HUT_SECRETS_ROTATION_SCHEDULER_H_

// Runs a rotator's Tick on its own thread at a fixed interval of the clock:
// scheduled rotations, resumed ones, retirements. Errors go to the log; the
// next tick tries again.

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/common/log.h"

namespace hut::secrets {

class RotationScheduler {
 public:
  RotationScheduler(std::function<absl::Status()> tick, Duration interval, const Clock& clock,
                    const Logger& log);
  ~RotationScheduler();  // stops the thread (after a tick under way)
  RotationScheduler(const RotationScheduler&) = delete;
  RotationScheduler& operator=(const RotationScheduler&) = delete;

 private:
  const std::function<absl::Status()> tick_;
  const Duration interval_;
  const Clock& clock_;
  const Logger& log_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hut::secrets

#endif  // HUT_SECRETS_ROTATION_SCHEDULER_H_
