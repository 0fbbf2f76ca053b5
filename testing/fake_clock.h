#ifndef HUT_TESTING_FAKE_CLOCK_H_
#define HUT_TESTING_FAKE_CLOCK_H_

#include <mutex>

#include "src/common/clock.h"

namespace hut::testing {

// A Clock that moves only when told to. Safe for concurrent use.
class FakeClock final : public Clock {
 public:
  // Starts at 2026-01-01T00:00:00Z unless told otherwise.
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1767225600)))
      : now_(start) {}

  TimePoint Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += std::chrono::duration_cast<TimePoint::duration>(d);
  }
  void Set(TimePoint t) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_;
};

}  // namespace hut::testing

#endif  // HUT_TESTING_FAKE_CLOCK_H_
