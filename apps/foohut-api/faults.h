#ifndef HUT_APPS_FOOHUT_API_FAULTS_H_
#define HUT_APPS_FOOHUT_API_FAULTS_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/common/clock.h"

namespace hut::foohut {

// Faults injected on purpose, for deployment tests and the demo (FOOHUT_FAULTS).
// All off by default. `errors` and `latency` apply to users' traffic only
// (/api/ routes; the files in static mode), never to /healthz, /readyz or
// /metrics, as a real bug would.
struct Faults {
  double errors = 0.0;                  // fraction in [0, 1] of /api/ requests answered 500
  Duration latency{0};                  // added to every /api/ request
  std::optional<Duration> crash_after;  // the process dies abruptly this long after start
  bool unready = false;                 // /readyz never reports ready
  std::optional<Duration> ready_after;  // /readyz reports ready only this long after start

  bool any() const {
    return errors > 0 || latency.count() > 0 || crash_after || unready || ready_after;
  }
  std::string ToString() const;  // "errors=0.2,latency=300ms" ("none" when off)
  friend bool operator==(const Faults&, const Faults&) = default;
};

// Parses "errors=0.2,latency=300ms,crash_after=10s,unready,ready_after=2s". Empty text: no
// faults. errors takes a fraction ("0.2") or a percentage ("20%"). Unknown
// names, repeated names, malformed or out-of-range values are errors that name
// the offending item.
absl::StatusOr<Faults> ParseFaults(std::string_view text);

// Whether a request fails given the configured fraction and a uniform draw in
// [0, 1). Pure, so the decision is testable without randomness.
inline bool ShouldInjectError(double errors, double uniform_draw) { return uniform_draw < errors; }

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_FAULTS_H_
