#ifndef HUT_LOCAL_JAEGER_SERVER_H_
#define HUT_LOCAL_JAEGER_SERVER_H_

// A real Jaeger (v2, scripts/jaeger.sh builds it) run as a child process on
// 127.0.0.1: OTLP/HTTP in, traces in memory, the query API and UI out
// (docs/traces.md). Stopped by Stop() or the destructor. Not thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/subprocess.h"

namespace hut::local {

// The Jaeger module version scripts/jaeger.sh builds (a test keeps the two equal).
inline constexpr char kJaegerVersion[] = "v1.75.0";

// Where the binary is: $HUT_JAEGER, else the cache scripts/jaeger.sh builds
// into ($HUT_JAEGER_CACHE or ~/.cache/hut/jaeger, /VERSION/bin/jaeger).
// FailedPrecondition, saying how to build it, when there is none.
absl::StatusOr<std::string> FindJaeger();

struct JaegerOptions {
  std::string binary;             // FindJaeger() when empty
  std::string dir;                // its configuration and log
  uint16_t query_port = 16686;    // the query API and UI
  uint16_t otlp_port = 4318;      // OTLP/HTTP receiver
  size_t max_traces = 100'000;    // kept in memory, oldest dropped
  std::chrono::milliseconds start_timeout{20'000};
};

// Jaeger's configuration (an OpenTelemetry Collector's) for `o`, with the
// health check on `health_port`; every endpoint on 127.0.0.1.
std::string JaegerConfig(const JaegerOptions& o, uint16_t health_port);

class JaegerServer {
 public:
  // Starts it and waits until its health check answers 200.
  static absl::StatusOr<std::unique_ptr<JaegerServer>> Start(JaegerOptions options);
  ~JaegerServer();

  std::string query_url() const;      // http://127.0.0.1:QUERY_PORT
  int pid() const { return process_ ? process_->pid() : -1; }
  std::string otlp_endpoint() const;  // http://127.0.0.1:OTLP_PORT/v1/traces
  // SIGTERM, then SIGKILL after 5 s. Idempotent.
  void Stop();
  // Why it is not running, or nullopt while it runs. Does not block.
  std::optional<std::string> Down();
  // Starts it again with the same folder and ports (traces kept in memory are lost).
  absl::Status Restart();

 private:
  explicit JaegerServer(JaegerOptions options) : options_(std::move(options)) {}
  JaegerOptions options_;
  std::unique_ptr<Process> process_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_JAEGER_SERVER_H_
