#ifndef HUT_LOCAL_EXPORTER_H_
#define HUT_LOCAL_EXPORTER_H_

// A Prometheus exporter from Debian's packages (node, PostgreSQL, Redis) run
// as a child process on 127.0.0.1, for the environment's Prometheus. Secrets
// it needs go in through its environment, never its command line. Not
// thread-safe.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/subprocess.h"

namespace hut::local {

struct ExporterOptions {
  std::string name;               // "node", "postgres-exporter", …: for errors
  std::vector<std::string> argv;  // without the listen address
  std::string listen_flag;        // the exporter's, e.g. "--web.listen-address="
  std::map<std::string, std::string> env;
  uint16_t port = 0;              // 127.0.0.1
  std::string log_file;
  std::chrono::milliseconds start_timeout{10'000};
};

class Exporter {
 public:
  // Starts it and waits until /metrics answers 200.
  static absl::StatusOr<std::unique_ptr<Exporter>> Start(ExporterOptions options);
  ~Exporter();

  std::string address() const;  // 127.0.0.1:PORT
  // Why it is not running, or nullopt while it runs. Does not block.
  std::optional<std::string> Down();
  absl::Status Restart();
  // SIGTERM, then SIGKILL after 5 s. Idempotent.
  void Stop();

 private:
  explicit Exporter(ExporterOptions options) : options_(std::move(options)) {}
  absl::Status Launch();
  ExporterOptions options_;
  std::unique_ptr<Process> process_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_EXPORTER_H_
