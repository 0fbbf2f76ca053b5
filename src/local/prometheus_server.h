#ifndef HUT_LOCAL_PROMETHEUS_SERVER_H_
#define HUT_LOCAL_PROMETHEUS_SERVER_H_

// Real Prometheus and Alertmanager servers (Debian's) run in the foreground
// as child processes on 127.0.0.1, with the configuration they are given.
// Stopped by Stop() or the destructor. Not thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/subprocess.h"

namespace hut::local {

// What both servers are: one configuration file, reloaded on POST /-/reload;
// ready when /-/ready answers 200.
class ReloadableServer {
 public:
  virtual ~ReloadableServer();
  ReloadableServer(const ReloadableServer&) = delete;
  ReloadableServer& operator=(const ReloadableServer&) = delete;

  std::string url() const;  // http://127.0.0.1:PORT
  uint16_t port() const { return launch_.port; }
  // Writes a new configuration and has the server load it.
  absl::Status Reconfigure(const std::string& config);
  // SIGTERM, then SIGKILL after 5 s. Idempotent.
  void Stop();
  // Why the server is not running, or nullopt while it runs. Does not block.
  std::optional<std::string> Down();
  // Starts it again with the same folder, port and configuration.
  absl::Status Restart();

 protected:
  struct Launch {
    std::string what;  // "Prometheus": for errors
    std::string dir;
    std::string config_file, log_file;  // in dir
    uint16_t port = 0;
    std::vector<std::string> argv;
    std::chrono::milliseconds start_timeout{20'000};
  };
  explicit ReloadableServer(Launch launch) : launch_(std::move(launch)) {}
  // A launch in `dir`: its configuration `stem`.yml and log `stem`.log,
  // listening on 127.0.0.1:`port`; `argv` gets the configuration file's
  // path and the listen address as the flags both servers take.
  static Launch In(std::string what, const std::string& dir, const std::string& stem,
                   uint16_t port, std::vector<std::string> argv,
                   std::chrono::milliseconds start_timeout);
  // Creates the folder, writes the configuration, starts the process and
  // waits until it is ready.
  absl::Status Run(const std::string& config);

 private:
  absl::Status Spawn();
  Launch launch_;
  std::unique_ptr<Process> process_;
};

struct PrometheusOptions {
  std::string binary = "prometheus";  // Debian's, from PATH, unless a path is given
  std::string dir;        // prometheus.yml, the TSDB (data/), the log
  uint16_t port = 9090;   // listens on 127.0.0.1 only
  std::string config;     // prometheus.yml's text
  std::chrono::milliseconds start_timeout{20'000};
};

class PrometheusServer final : public ReloadableServer {
 public:
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(const PrometheusOptions& options);

 private:
  using ReloadableServer::ReloadableServer;
};

struct AlertmanagerOptions {
  std::string binary = "prometheus-alertmanager";  // Debian's name for it
  std::string dir;        // alertmanager.yml, its state (data/: silences, sent log), the log
  uint16_t port = 9093;   // listens on 127.0.0.1 only; no cluster port is opened
  std::string config;     // alertmanager.yml's text
  std::chrono::milliseconds start_timeout{20'000};
};

class AlertmanagerServer final : public ReloadableServer {
 public:
  static absl::StatusOr<std::unique_ptr<AlertmanagerServer>> Start(
      const AlertmanagerOptions& options);

 private:
  using ReloadableServer::ReloadableServer;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_PROMETHEUS_SERVER_H_
