#ifndef HUT_COMMON_CLOCK_H_
#define HUT_COMMON_CLOCK_H_

#include <chrono>

namespace hut {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::milliseconds;

// The only source of "now" in hut. Every time-based rule takes a Clock so that
// tests can drive minutes or days of logic in milliseconds (see FakeClock in
// testing/fake_clock.h). Implementations are safe for concurrent use.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The system's wall clock.
class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace hut

#endif  // HUT_COMMON_CLOCK_H_
