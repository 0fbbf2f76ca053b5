#include "src/secrets/rotation_scheduler.h"

namespace hut::secrets {

RotationScheduler::RotationScheduler(std::function<absl::Status()> tick, Duration interval,
                                     const Clock& clock, const Logger& log)
    : tick_(std::move(tick)), interval_(interval), clock_(clock), log_(log) {
  thread_ = std::thread([this] {
    for (;;) {
      if (absl::Status s = tick_(); !s.ok()) {
        log_.Error("secret rotation", {{"error", s.ToString()}});
      }
      absl::MutexLock lock(&mu_);
      if (clock_.AwaitUntil(mu_, absl::Condition(&stop_), clock_.Now() + interval_)) return;
    }
  });
}

RotationScheduler::~RotationScheduler() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

}  // namespace hut::secrets
