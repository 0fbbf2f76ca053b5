#ifndef HUT_LOCAL_LOCAL_RUNTIME_H_
#define HUT_LOCAL_LOCAL_RUNTIME_H_

// The local Runtime: replicas are child processes on this machine (sandboxed
// when possible), HAProxy is the load balancer, and hut probes every replica's
// readiness itself on the service's health-check interval.

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/common/spawn_thread.h"
#include "src/health/health.h"
#include "src/local/haproxy.h"
#include "src/local/local_replica.h"
#include "src/local/replica_plan.h"
#include "src/local/replica_process.h"
#include "src/runtime/runtime.h"

namespace hut::local {

// A sandboxed service's user and group.
struct SandboxIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
};

// Replicas of a service run as uid kServiceUidBase + (a hash of the state
// folder and the service name) mod kServiceUidRange, far above any account,
// so that no two services (nor two environments on one machine, but by a
// one-in-a-billion chance) share a user.
inline constexpr uid_t kServiceUidBase = 1'000'000'000;
inline constexpr uid_t kServiceUidRange = 1'000'000'000;

// How replicas reach one backing service.
struct BackingAccess {
  std::string url;            // without a password; fills {{backing.NAME.url}}
  std::string password_file;  // the URL's user's password (hut's copy, root's)
  // libpq: the URL gets "?passfile=<the replica's copy>", so that it works as
  // it is; the file is then in libpq's format.
  bool passfile_in_url = false;
};

struct LocalRuntimeOptions {
  std::string environment;  // fills {{environment}}
  std::string state_dir;    // replicas' private folders: <state_dir>/replicas/<name>
  // Replicas' current folder, against which relative paths in a release
  // resolve (the spec's folder); "" : each replica's private folder.
  std::string working_dir;
  // Backing service name -> how replicas reach it. A replica whose release
  // names {{backing.NAME.…}} gets its own copy of the password file (mode
  // 0400, its user's), whose path fills {{backing.NAME.password_file}}.
  std::map<std::string, BackingAccess> backing;
  // Secret name -> file. Each replica whose release names the secret gets
  // its own copy in its private folder, readable by the replica's user only;
  // the copy's path fills {{secrets.NAME.file}}. A release that does not
  // name a secret does not get it.
  std::map<std::string, std::string> secret_files;
  // Variables every replica gets (where its spans go: OTEL_*); the release's
  // own env and --set win. {{service}} and the other placeholders expand.
  std::map<std::string, std::string> env;
  SandboxMode sandbox = SandboxMode::kAuto;
  // A crashed replica is restarted after `restart_backoff`, doubled after each
  // crash up to `max_restart_backoff`.
  std::chrono::milliseconds restart_backoff{1000};
  std::chrono::milliseconds max_restart_backoff{30'000};
  std::chrono::milliseconds monitor_interval{100};  // how often exits and probes are looked at
  // Readiness probes of a replica not yet ready since it (re)started run this
  // often (at most the health interval); ready replicas use the interval.
  std::chrono::milliseconds startup_probe_interval{250};
  // Called, on the thread that made the change and without the runtime's
  // lock, after a replica process is added and after one has finished
  // stopping (Processes() then tells the new set): Prometheus' targets.
  std::function<void()> on_replicas_changed;
};

// Thread-safe. Stops every replica it started when destroyed.
class LocalRuntime final : public runtime::Runtime {
 public:
  // `lb`, `sink` and `clock` must outlive the runtime. Probes the sandbox once.
  LocalRuntime(LocalRuntimeOptions options, Haproxy& lb, LogSink& sink, const Clock& clock,
               Logger logger);
  ~LocalRuntime() override;

  // The Runtime seam: PlanSteps (replica_plan.h) carried out.
  runtime::ApplyResult Apply(const std::string& service, const runtime::ServicePlan& plan,
                             const std::map<int, runtime::RevisionTemplate>& templates) override;
  absl::StatusOr<runtime::Observation> Observe(const std::string& service) override;

  // The steps Apply takes, one replica at a time (tests and tools).
  // Starts one replica and returns its name; it becomes ready later.
  absl::StatusOr<std::string> StartReplica(const runtime::RevisionTemplate& revision);
  // Puts a replica behind the load balancer with `weight` (0..kMaxWeight).
  absl::Status AddToLoadBalancer(const std::string& service, const std::string& replica,
                                 int weight);
  absl::Status SetWeight(const std::string& service, const std::string& replica, int weight);
  // No new requests; requests in flight finish (up to the grace period);
  // then SIGTERM, then SIGKILL after the grace period. Safe to repeat.
  absl::Status DrainAndStop(const std::string& service, const std::string& replica);
  // For a replica that serves no traffic: SIGTERM, SIGKILL after the grace
  // period. Safe to repeat; an unknown replica is not an error.
  absl::Status Stop(const std::string& service, const std::string& replica);
  // Every replica process of the service that has not finished stopping.
  std::vector<LocalReplica> Processes(const std::string& service);
  // Copies secret `secret`'s source file again into every replica that uses
  // it (a rotation: the replicas read the new value without a restart).
  absl::Status RefreshSecretFile(const std::string& secret);

 private:
  struct Replica {
    runtime::RevisionTemplate spec;
    LocalReplica status;
    ReplicaOptions process_options;
    std::unique_ptr<ReplicaProcess> process;  // null while waiting to restart
    health::FailureCounter readiness{3};
    TimePoint next_probe;
    TimePoint restart_at;
    std::chrono::milliseconds backoff{0};
    bool leaving = false;  // DrainAndStop or Stop: the monitor finishes it
    bool drain = false;    // leaving through the load balancer
    // Crashed while in the load balancer: taken out of rotation at once (not
    // after the load balancer's failed checks), back when ready again.
    bool out_of_rotation = false;
    TimePoint leave_deadline;
  };

  // How the seam sees a replica: its state from the counters, by the
  // revision's health policy.
  runtime::Replica Classify(const Replica& replica, TimePoint now) const;
  // One step of a plan; what it changed, for the event log.
  absl::Status Take(const std::string& service, const Step& step,
                    const std::map<int, runtime::RevisionTemplate>& templates,
                    runtime::ApplyResult& result);
  void MonitorLoop();
  void MonitorOnce();
  // Drains (if asked), removes from the load balancer and stops the process;
  // runs on its own thread so one slow replica holds up nothing else.
  void Retire(std::string service, std::string name);
  Replica* Find(const std::string& service, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The sandbox user of `service`'s replicas: its own uid (and gid) from a
  // range no account uses, the same across restarts of this environment.
  SandboxIdentity ServiceUser(const std::string& service);
  // Copies `source` to <private_dir>/secrets/<secret>, owned by `owner` (when
  // sandboxed) with mode 0400; returns the copy's path.
  absl::StatusOr<std::string> InstallSecretFile(const std::string& source,
                                                const std::string& private_dir,
                                                const std::string& secret,
                                                SandboxIdentity owner) const;

  const LocalRuntimeOptions options_;
  Haproxy& lb_;
  LogSink& sink_;
  const Clock& clock_;
  Logger logger_;
  const SandboxSupport sandbox_;
  std::string replicas_dir_;  // parent of the private folders; set once in the constructor
  // Replicas are forked here, not on the caller's thread, so that they are
  // not killed when a caller's thread exits; destroyed last.
  SpawnThread spawner_;

  absl::Mutex mu_;
  std::map<std::string, std::map<std::string, std::unique_ptr<Replica>>> replicas_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::future<void>> retiring_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uid_t> service_uids_ ABSL_GUARDED_BY(mu_);
  // Service -> revision -> why its replicas cannot be started.
  std::map<std::string, std::map<int, std::string>> cannot_start_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread monitor_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_LOCAL_RUNTIME_H_
