#ifndef HUT_TESTING_FAKE_RUNTIME_H_
#define HUT_TESTING_FAKE_RUNTIME_H_

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "src/runtime/runtime.h"

namespace hut::testing {

// A Runtime that keeps replicas in memory. Step() moves the world on: a
// starting replica of a healthy version becomes ready, draining and stopped
// replicas disappear, a version marked failing fails its checks once ready.
// Thread-safe.
class FakeRuntime final : public runtime::Runtime {
 public:
  enum class Health { kHealthy, kNeverReady, kFailsAfterReady, kCrashLoops };

  explicit FakeRuntime(const Clock& clock) : clock_(clock) {}

  void SetHealth(const std::string& version, Health health) {
    std::lock_guard<std::mutex> lock(mu_);
    health_[version] = health;
  }

  void Step() {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(replicas_, [](const runtime::ReplicaStatus& r) { return r.draining; });
    for (runtime::ReplicaStatus& r : replicas_) {
      Health h = health_.count(r.version) ? health_[r.version] : Health::kHealthy;
      if (h == Health::kCrashLoops) {  // exits at once, every time it is restarted
        ++r.restarts;
        ++r.consecutive_failures;
        r.last_failure = "exited: code 1";
        continue;
      }
      if (!r.ever_ready && h != Health::kNeverReady) {
        r.ready = r.ever_ready = true;
        r.consecutive_failures = 0;  // a passing check ends the run of failures
      } else if (r.ever_ready && h == Health::kFailsAfterReady) {
        r.ready = false;
        ++r.consecutive_failures;
        r.last_failure = "HTTP 500";
      } else if (!r.ever_ready) {
        ++r.consecutive_failures;
        r.last_failure = "HTTP 503";
      }
    }
  }

  // StartReplica of `version` fails with `error` from now on.
  void SetStartError(const std::string& version, absl::Status error) {
    std::lock_guard<std::mutex> lock(mu_);
    start_errors_[version] = std::move(error);
  }

  absl::StatusOr<std::string> StartReplica(const runtime::ReplicaTemplate& t) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = start_errors_.find(t.version); it != start_errors_.end()) return it->second;
    runtime::ReplicaStatus r;
    r.name = t.service + "-r" + std::to_string(t.revision) + "-" + std::to_string(next_++);
    r.revision = t.revision;
    r.version = t.version;
    r.address = "127.0.0.1";
    r.started_at = r.process_started_at = clock_.Now();
    replicas_.push_back(r);
    started_env_[r.name] = t.env;
    service_of_[r.name] = t.service;
    return r.name;
  }
  absl::Status AddToLoadBalancer(const std::string&, const std::string& replica,
                                 int weight) override {
    std::lock_guard<std::mutex> lock(mu_);
    runtime::ReplicaStatus* r = Find(replica);
    if (r == nullptr) return absl::NotFoundError(replica);
    r->in_load_balancer = true;
    r->weight = weight;
    ever_served_.insert(r->version);
    return absl::OkStatus();
  }
  absl::Status SetWeight(const std::string&, const std::string& replica, int weight) override {
    std::lock_guard<std::mutex> lock(mu_);
    runtime::ReplicaStatus* r = Find(replica);
    if (r == nullptr) return absl::NotFoundError(replica);
    r->weight = weight;
    return absl::OkStatus();
  }
  absl::Status DrainAndStop(const std::string&, const std::string& replica) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (runtime::ReplicaStatus* r = Find(replica)) {
      r->draining = true;
      r->in_load_balancer = false;
    }
    return absl::OkStatus();
  }
  absl::Status Stop(const std::string&, const std::string& replica) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(replicas_, [&](const runtime::ReplicaStatus& r) { return r.name == replica; });
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<runtime::ReplicaStatus>> Replicas(
      const std::string& service) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<runtime::ReplicaStatus> out;
    for (const runtime::ReplicaStatus& r : replicas_) {
      if (service_of_[r.name] == service) out.push_back(r);
    }
    return out;
  }

  // Versions that ever received traffic.
  bool EverServed(const std::string& version) {
    std::lock_guard<std::mutex> lock(mu_);
    return ever_served_.count(version) > 0;
  }
  std::map<std::string, std::string> EnvOf(const std::string& replica) {
    std::lock_guard<std::mutex> lock(mu_);
    return started_env_[replica];
  }

 private:
  runtime::ReplicaStatus* Find(const std::string& name) {
    for (auto& r : replicas_) {
      if (r.name == name) return &r;
    }
    return nullptr;
  }

  const Clock& clock_;
  std::mutex mu_;
  std::vector<runtime::ReplicaStatus> replicas_;
  std::map<std::string, Health> health_;
  std::map<std::string, absl::Status> start_errors_;
  std::map<std::string, std::string> service_of_;  // replica name -> service
  std::map<std::string, std::map<std::string, std::string>> started_env_;
  std::set<std::string> ever_served_;
  int next_ = 0;
};

}  // namespace hut::testing

#endif  // HUT_TESTING_FAKE_RUNTIME_H_
