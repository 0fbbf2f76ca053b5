#ifndef HUT_HEALTH_HEALTH_H_
#define HUT_HEALTH_HEALTH_H_

// Replica health as hut sees it: HTTP probes of a replica's liveness and
// readiness paths, and the "N consecutive failures" rule (ADR-009: 3).

#include <cstdint>
#include <optional>
#include <string>

#include "src/common/clock.h"

namespace hut::health {

struct ProbeResult {
  TimePoint at;
  bool ok = false;     // HTTP 2xx within the timeout
  std::string detail;  // "HTTP 200", "HTTP 503", or the transport error
};

// GET http://host:port/path with `timeout`; 2xx is success, anything else
// (another status, refused, reset, timeout) is a failure with its reason.
ProbeResult Probe(const std::string& host, uint16_t port, const std::string& path,
                  Duration timeout, const Clock& clock);

// Consecutive-failure bookkeeping for one probe of one replica.
// Not thread-safe: one owner feeds it results in order.
class FailureCounter {
 public:
  explicit FailureCounter(int threshold) : threshold_(threshold) {}

  void Record(const ProbeResult& result);

  // No probe yet, or the last one failed.
  bool passing() const { return last_.has_value() && last_->ok; }
  // `threshold` or more consecutive failures (stays true until a success).
  bool failed() const { return consecutive_failures_ >= threshold_; }
  int consecutive_failures() const { return consecutive_failures_; }
  // "3 consecutive failed checks of /readyz (last: HTTP 503)"; "" when not failed.
  std::string FailureReason(const std::string& path) const;
  const std::optional<ProbeResult>& last() const { return last_; }

 private:
  int threshold_;
  int consecutive_failures_ = 0;
  std::optional<ProbeResult> last_;
};

}  // namespace hut::health

#endif  // HUT_HEALTH_HEALTH_H_
