#ifndef HUT_LOCAL_PROMETHEUS_SERVER_H_
#define HUT_LOCAL_PROMETHEUS_SERVER_H_

// A real Prometheus server (Debian's) run in the foreground as a child
// process on 127.0.0.1, with the configuration it is given. Stopped by Stop()
// or the destructor. Not thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/subprocess.h"

namespace hut::local {

struct PrometheusOptions {
  std::string binary = "prometheus";  // Debian's, from PATH, unless a path is given
  std::string dir;        // prometheus.yml, the TSDB (data/), the log
  uint16_t port = 9090;   // listens on 127.0.0.1 only
  std::string config;     // prometheus.yml's text
  std::chrono::milliseconds start_timeout{20'000};
};

class PrometheusServer {
 public:
  // Starts it and waits until /-/ready answers 200.
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(const PrometheusOptions& options);
  ~PrometheusServer();

  std::string url() const;  // http://127.0.0.1:PORT
  uint16_t port() const { return options_.port; }
  // Writes a new configuration and has the server load it (POST /-/reload).
  absl::Status Reconfigure(const std::string& config);
  // SIGTERM, then SIGKILL after 5 s. Idempotent.
  void Stop();
  // Why the server is not running, or nullopt while it runs. Does not block.
  std::optional<std::string> Down();
  // Starts it again with the same folder, port and configuration.
  absl::Status Restart();

 private:
  explicit PrometheusServer(PrometheusOptions options) : options_(std::move(options)) {}
  PrometheusOptions options_;
  std::unique_ptr<Process> process_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_PROMETHEUS_SERVER_H_
