#ifndef HUT_TESTING_FAKE_RUNTIME_H_
#define HUT_TESTING_FAKE_RUNTIME_H_

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "src/runtime/runtime.h"

namespace hut::testing {

// A Runtime that keeps replicas in memory and carries plans out at once, as
// runtime.h says a runtime does. Step() moves the world on: a starting
// replica of a healthy version becomes ready, draining replicas are gone, a
// version marked failing fails once ready. Thread-safe.
class FakeRuntime final : public runtime::Runtime {
 public:
  enum class Health { kHealthy, kNeverReady, kFailsAfterReady, kCrashLoops };

  explicit FakeRuntime(const Clock& clock) : clock_(clock) {}

  void SetHealth(const std::string& version, Health health) {
    absl::MutexLock lock(&mu_);
    health_[version] = health;
  }
  // Replicas of `version` cannot be started from now on, with `error`.
  void SetStartError(const std::string& version, absl::Status error) {
    absl::MutexLock lock(&mu_);
    start_errors_[version] = std::move(error);
  }

  // What Observe() reports as the service's autoscaler count (nullopt: none).
  void SetScale(const std::string& service, std::optional<int> replicas) {
    absl::MutexLock lock(&mu_);
    scale_[service] = replicas;
  }

  void Step() {
    using runtime::ReplicaState;
    absl::MutexLock lock(&mu_);
    std::erase_if(replicas_, [](const Entry& e) { return e.r.state == ReplicaState::kDraining; });
    for (Entry& e : replicas_) {
      const Health h = health_.count(e.r.version) ? health_[e.r.version] : Health::kHealthy;
      if (h == Health::kCrashLoops) {
        e.r.reason = "exited: code 1";
        if (++e.r.restarts >= 3) {
          e.r.state = ReplicaState::kCrashLooping;
          e.r.reason = "crash-looping: exited 3 times (last: exited: code 1)";
        }
      } else if ((e.r.state == ReplicaState::kStarting || e.r.state == ReplicaState::kFailing) &&
                 h != Health::kNeverReady && h != Health::kFailsAfterReady) {
        e.r.state = ReplicaState::kReady;  // its checks pass (again)
      } else if (e.r.state == ReplicaState::kStarting && h == Health::kFailsAfterReady) {
        e.r.state = ReplicaState::kReady;
      } else if (e.r.state == ReplicaState::kReady && h == Health::kFailsAfterReady) {
        e.r.state = ReplicaState::kFailing;
        e.r.serving = false;
        e.r.reason = "3 consecutive failed health checks (last: HTTP 500)";
      } else if (e.r.state == ReplicaState::kStarting &&
                 clock_.Now() - e.r.started_at >= e.start_period) {
        e.r.state = ReplicaState::kFailing;
        e.r.reason = "not ready after its start period: HTTP 503";
      }
    }
  }

  runtime::ApplyResult Apply(const std::string& service, const runtime::ServicePlan& plan,
                             const std::map<int, runtime::RevisionTemplate>& templates) override {
    using runtime::ReplicaState;
    absl::MutexLock lock(&mu_);
    runtime::ApplyResult result;
    auto note = [&](std::string type, std::string message) {
      result.changes.push_back({std::move(type), std::move(message)});
    };
    auto leave = [&](Entry& e) {
      if (e.r.serving) {
        note("replica.draining", "draining and stopping " + e.r.name);
      } else {
        note("replica.stopped", "stopped " + e.r.name + " (it served no traffic)");
      }
      e.r.state = ReplicaState::kDraining;
      e.r.serving = false;
    };
    std::vector<Entry*> mine;  // this service's replicas that stay, youngest first
    for (Entry& e : replicas_) {
      if (e.service != service || e.r.state == ReplicaState::kDraining) continue;
      const runtime::RevisionTarget* t = plan.Find(e.r.revision);
      if (t == nullptr || t->replicas == 0 || runtime::Unhealthy(e.r.state)) {
        leave(e);
      } else {
        mine.push_back(&e);
      }
    }
    std::stable_sort(mine.begin(), mine.end(), [](const Entry* a, const Entry* b) {
      if (a->r.serving != b->r.serving) return !a->r.serving;  // not serving first
      return a->r.started_at > b->r.started_at;
    });
    std::vector<Entry> started;  // appended after: `mine` points into replicas_
    for (const runtime::RevisionTarget& t : plan.revisions) {
      int have = static_cast<int>(std::count_if(
          mine.begin(), mine.end(), [&](const Entry* e) { return e->r.revision == t.revision; }));
      for (Entry* e : mine) {
        if (have > t.replicas && e->r.revision == t.revision) {
          leave(*e);
          --have;
        }
      }
      for (; have < t.replicas; ++have) {
        auto tmpl = templates.find(t.revision);
        if (tmpl == templates.end()) {
          result.status = absl::InvalidArgumentError(absl::StrCat("no template for ", t.revision));
          break;
        }
        if (auto err = start_errors_.find(tmpl->second.version); err != start_errors_.end()) {
          cannot_start_[{service, t.revision}] = std::string(err->second.message());
          break;
        }
        cannot_start_.erase({service, t.revision});
        Entry e{service, {}, tmpl->second.health.start_period, tmpl->second.env};
        e.r.name = absl::StrCat(service, "-r", t.revision, "-", next_++);
        e.r.revision = t.revision;
        e.r.version = tmpl->second.version;
        e.r.started_at = clock_.Now();
        note("replica.started", absl::StrCat("started ", e.r.name, " (revision ", t.revision,
                                             ", ", e.r.version, ")"));
        started.push_back(std::move(e));
      }
    }
    for (Entry& e : started) replicas_.push_back(std::move(e));
    for (Entry& e : replicas_) {  // ready replicas that stay get traffic
      if (e.service == service && e.r.state == ReplicaState::kReady && !e.r.serving) {
        e.r.serving = true;
        note("replica.serving", e.r.name + " is ready: now serving");
      }
    }
    plans_[service] = plan;
    return result;
  }

  absl::StatusOr<runtime::Observation> Observe(const std::string& service) override {
    absl::MutexLock lock(&mu_);
    runtime::Observation o;
    const runtime::ServicePlan& plan = plans_[service];
    std::map<int, int> serving;  // per revision
    std::map<int, std::string> version;
    for (const Entry& e : replicas_) {
      if (e.service != service) continue;
      o.replicas.push_back(e.r);
      if (e.r.serving) ++serving[e.r.revision];
      version[e.r.revision] = e.r.version;
    }
    // With a split a revision's serving replicas share its part; without,
    // every serving replica takes an equal part.
    std::map<int, double> weight;
    double total = 0;
    for (const auto& [revision, n] : serving) {
      const runtime::RevisionTarget* t = plan.Find(revision);
      weight[revision] = !plan.split ? n : t == nullptr ? 0.0 : t->share;
      total += weight[revision];
    }
    if (total == 0) {  // fail open: whoever serves shares the traffic
      for (const auto& [revision, n] : serving) total += weight[revision] = n;
    }
    for (const auto& [revision, w] : weight) {
      if (total > 0 && w > 0) {
        o.traffic[revision] = w / total;
        ever_served_.insert(version[revision]);
      }
    }
    for (const auto& [key, why] : cannot_start_) {
      if (key.first == service) o.cannot_start[key.second] = why;
    }
    if (auto it = scale_.find(service); it != scale_.end()) o.scale = it->second;
    return o;
  }

  // Observe(service).replicas.
  std::vector<runtime::Replica> Replicas(const std::string& service) {
    return Observe(service)->replicas;
  }
  // The share of traffic each revision takes now.
  std::map<int, double> Traffic(const std::string& service) { return Observe(service)->traffic; }

  // Versions that ever took traffic (as Observe saw it).
  bool EverServed(const std::string& version) {
    absl::MutexLock lock(&mu_);
    return ever_served_.count(version) > 0;
  }
  std::map<std::string, std::string> EnvOf(const std::string& replica) {
    absl::MutexLock lock(&mu_);
    for (const Entry& e : replicas_) {
      if (e.r.name == replica) return e.env;
    }
    return {};
  }

 private:
  struct Entry {
    std::string service;
    runtime::Replica r;
    Duration start_period{0};
    std::map<std::string, std::string> env;
  };

  const Clock& clock_;
  absl::Mutex mu_;
  std::vector<Entry> replicas_ ABSL_GUARDED_BY(mu_);
  // By service: the last one applied.
  std::map<std::string, runtime::ServicePlan> plans_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Health> health_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> start_errors_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int>, std::string> cannot_start_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::optional<int>> scale_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> ever_served_ ABSL_GUARDED_BY(mu_);
  int next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hut::testing

#endif  // HUT_TESTING_FAKE_RUNTIME_H_
