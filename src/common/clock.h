#ifndef HUT_COMMON_CLOCK_H_
#define HUT_COMMON_CLOCK_H_

#include <chrono>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hut {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::milliseconds;

// The only source of "now" in hut, and of timed waits. Every time-based rule
// takes a Clock so that tests can drive minutes or days of logic in
// milliseconds (see FakeClock in testing/fake_clock.h, which also wakes the
// threads waiting on it when it is moved). Implementations are safe for
// concurrent use.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;

  // Waits until `cond` holds or this clock reaches `deadline`, whichever comes
  // first, and returns whether `cond` holds. As absl::Mutex::Await: `mu` is
  // held on entry and on return and released while waiting; `cond` is
  // evaluated with `mu` held, so whoever changes what it reads does so holding
  // `mu` (which wakes the waiter). A deadline already reached returns at once.
  virtual bool AwaitUntil(absl::Mutex& mu, const absl::Condition& cond, TimePoint deadline) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  // Blocks the calling thread until this clock reaches `deadline`.
  void SleepUntil(TimePoint deadline) const {
    absl::Mutex mu;
    absl::MutexLock lock(&mu);
    static constexpr bool kNever = false;
    AwaitUntil(mu, absl::Condition(&kNever), deadline);
  }
};

// The system's wall clock; waits take real time.
class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }

  bool AwaitUntil(absl::Mutex& mu, const absl::Condition& cond, TimePoint deadline) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) override {
    const TimePoint now = Now();
    if (deadline <= now) return cond.Eval();
    return mu.AwaitWithTimeout(cond, absl::FromChrono(deadline - now));
  }
};

}  // namespace hut

#endif  // HUT_COMMON_CLOCK_H_
