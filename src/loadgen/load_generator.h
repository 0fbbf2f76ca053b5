#ifndef HUT_LOADGEN_LOAD_GENERATOR_H_
#define HUT_LOADGEN_LOAD_GENERATOR_H_

// Steady, open-loop HTTP load for zero-downtime tests, the demo and
// benchmarks: requests start on a fixed schedule whatever the answers, so a
// slow or broken server shows up as failures and latency, not as a lower
// request rate. Every request that did not get a 2xx/3xx/4xx answer counts
// as failed, by kind.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hut::loadgen {

struct LoadOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::vector<std::string> targets = {"/"};  // requested in turn
  double rate = 300;                         // requests per second, > 0
  int workers = 16;                          // concurrent requests at most
  std::chrono::milliseconds timeout{5000};   // per request
  // Response header whose value is counted per answer (e.g. the version
  // that served it); "" counts nothing.
  std::string count_header;
};

struct LoadReport {
  int64_t sent = 0;
  int64_t ok = 0;                  // 2xx, 3xx and 4xx answers
  int64_t server_errors = 0;       // 5xx answers
  int64_t transport_errors = 0;    // refused, reset, timed out
  int64_t late = 0;                // started late: no worker was free on time
  std::map<std::string, int64_t> by_header;  // count_header value -> answers
  std::map<std::string, int64_t> errors;     // error text -> count (first 20 kinds)
  std::vector<double> latencies_ms;          // answered requests only, in order
  double elapsed_s = 0;

  int64_t failed() const { return server_errors + transport_errors; }
  // Nearest-rank percentile of latencies_ms, q in [0, 1]; 0 when empty.
  double LatencyQuantileMs(double q) const;
  // "12000 sent, 0 failed (0 5xx, 0 transport), 300.0 req/s, P50 1.2 ms, P99 4.5 ms"
  std::string Summary() const;
};

// Runs in the background from Start() until Stop(). Thread-safe.
class LoadGenerator {
 public:
  static absl::StatusOr<std::unique_ptr<LoadGenerator>> Start(const LoadOptions& options);
  virtual ~LoadGenerator() = default;
  // A copy of the counts so far.
  virtual LoadReport Snapshot() const = 0;
  // Stops scheduling, waits for requests in flight, returns the final report.
  virtual LoadReport Stop() = 0;
};

}  // namespace hut::loadgen

#endif  // HUT_LOADGEN_LOAD_GENERATOR_H_
