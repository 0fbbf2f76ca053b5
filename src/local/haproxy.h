#ifndef HUT_LOCAL_HAPROXY_H_
#define HUT_LOCAL_HAPROXY_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/common/subprocess.h"

namespace hut::local {

// One load-balanced service: a frontend port on 127.0.0.1 and a backend
// whose servers are the service's replicas.
struct LbServiceOptions {
  std::string name;                       // "backend"; must be [A-Za-z0-9_-]+
  uint16_t port = 0;                      // frontend port on 127.0.0.1
  std::string health_path = "/readyz";    // HTTP check: 200 means ready
  std::chrono::milliseconds check_interval{2000};
  int fall = 3;  // consecutive failed checks before a server is DOWN (ADR: 3)
  int rise = 1;  // consecutive good checks before it is UP again
};

struct HaproxyOptions {
  std::string dir;  // config, admin socket, server-state file, log
  std::vector<LbServiceOptions> services;
  uint16_t stats_port = 0;  // Prometheus exporter on 127.0.0.1 (/metrics); 0: none
  // A Unix datagram socket (LogSocket) for one JSON line per request and the
  // proxies' messages; "": no access log.
  std::string log_socket;
  std::string binary = "haproxy";
  std::chrono::milliseconds start_timeout{10'000};
};

struct LbServer {
  std::string name;  // unique within its service; [A-Za-z0-9_.-]+
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  int weight = 100;  // 0..256: relative share of new requests
};

// What HAProxy observed for one server, from `show stat`.
struct LbServerStats {
  std::string service;
  std::string server;
  std::string status;  // "UP", "DOWN", "MAINT", "DRAIN", "UP 1/3", ...
  int weight = 0;
  int64_t current_sessions = 0;  // in flight now
  int64_t total_sessions = 0;
  int64_t responses[6] = {};     // [1]..[5]: 1xx..5xx responses; [0]: other
  int64_t connection_errors = 0; // econ: could not connect to the server
  int64_t response_errors = 0;   // eresp: aborted or broken responses
  int64_t retries = 0;           // wretr
  int64_t redispatches = 0;      // wredis
  int64_t avg_response_ms = 0;   // rtime: average over the last 1024 requests
  std::string check_status;      // "L7OK", "L4CON", ...
};

// HAProxy as the local load balancer, run in master-worker mode as a child
// process, bound to loopback only. Replicas join and leave through the
// runtime API (admin socket). The servers it knows are also kept here, so a
// reload writes them into the configuration and their runtime state (weight,
// drain, maintenance) survives through the server-state file.
// Thread-safe.
class Haproxy {
 public:
  static absl::StatusOr<std::unique_ptr<Haproxy>> Start(const HaproxyOptions& options);
  ~Haproxy();

  // Adds a server with health checks on; it takes traffic once its first
  // check passes. Adding a server that exists with the same address is a
  // no-op (safe to repeat).
  absl::Status AddServer(std::string_view service, const LbServer& server);
  absl::Status SetWeight(std::string_view service, std::string_view server, int weight);
  // No new requests go to the server; requests in flight finish.
  absl::Status Drain(std::string_view service, std::string_view server);
  // Back to normal service after Drain.
  absl::Status Ready(std::string_view service, std::string_view server);
  // Maintenance, cut remaining sessions, delete. Removing an unknown server
  // is a no-op (safe to repeat).
  absl::Status RemoveServer(std::string_view service, std::string_view server);

  absl::StatusOr<std::vector<LbServerStats>> Stats();
  // Rewrites the configuration with the current servers, saves their
  // runtime state and reloads the workers without dropping connections.
  absl::Status Reload();
  // One raw admin-socket command; returns HAProxy's answer.
  absl::StatusOr<std::string> Command(std::string_view command);

  // Why HAProxy is not running (its master exited: in HAProxy 2.6 a killed
  // worker takes the master with it), or nullopt while it runs. Does not
  // block.
  std::optional<std::string> Down();
  // Starts HAProxy again after it died, with the servers it knew (their
  // weights; drain state and health start afresh). A no-op while it runs.
  absl::Status Restart();

  pid_t pid() const;
  // Its stdout and stderr: the master's messages.
  std::string log_file() const { return options_.dir + "/haproxy.log"; }
  const std::string& config_path() const { return config_path_; }
  uint16_t stats_port() const { return options_.stats_port; }  // its Prometheus exporter
  // Soft stop (SIGUSR1: finish connections), SIGKILL after `grace`. Idempotent.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

 private:
  explicit Haproxy(HaproxyOptions options);
  // Spawns the master (config already written) and waits for its admin socket.
  absl::Status Launch();
  std::string RenderConfig() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteConfig() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> CommandLocked(std::string_view command)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckService(std::string_view service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const HaproxyOptions options_;
  const std::string config_path_;
  const std::string socket_path_;
  const std::string state_path_;
  mutable absl::Mutex mu_;
  // service -> server name -> server
  std::map<std::string, std::map<std::string, LbServer, std::less<>>, std::less<>> servers_
      ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Process> process_ ABSL_GUARDED_BY(mu_);
};

// One command on HAProxy's admin socket at `socket_path` (<dir>/admin.sock);
// HAProxy's answer. For tools and tests that watch a running load balancer.
absl::StatusOr<std::string> HaproxyAdminCommand(const std::string& socket_path,
                                                std::string_view command);

// Parses the CSV answer of `show stat` into per-server rows (frontends and
// backend totals are skipped). Exposed for tests.
std::vector<LbServerStats> ParseShowStat(std::string_view csv);

}  // namespace hut::local

#endif  // HUT_LOCAL_HAPROXY_H_
