#ifndef HUT_RUNTIME_RUNTIME_H_
#define HUT_RUNTIME_RUNTIME_H_

// Where replicas run and how traffic reaches them: the seam between the
// rollout logic and the platform (DESIGN.md). The strategies say, per
// revision, how many replicas and what share of the traffic; a Runtime makes
// it so and reports each revision's replicas in states it has classified
// itself. Implementations: local (processes + HAProxy, src/local) and
// Kubernetes (a ReplicaSet per revision, Gateway API weights). One Runtime
// serves one environment. Every method is safe for concurrent use and returns
// quickly: slow work (booting, draining) happens in the background and shows
// in Observe().

#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/common/clock.h"
#include "src/spec/spec.h"

namespace hut::runtime {

// What every replica of one revision of a service runs.
struct RevisionTemplate {
  std::string service;
  int revision = 0;
  std::string version;
  // Unexpanded: the runtime fills {{port}}, {{replica}}, … per replica.
  spec::Release release;
  // `hut deploy --set` variables; they override release.env.
  std::map<std::string, std::string> env;
  // failure_threshold is the rollback policy's health_check_failures.
  spec::HealthCheck health;
  Duration termination_grace{30'000};
  bool operator==(const RevisionTemplate&) const = default;
};

// How the runtime classifies a replica. Failing and crash-looping replicas
// are unhealthy: a strategy rolls back for them.
enum class ReplicaState {
  kStarting,      // running, not ready yet (inside its start period)
  kReady,         // its readiness check passes
  kFailing,       // failed health_check_failures checks in a row (after it was
                  // ready, or still not ready after the start period)
  kCrashLooping,  // exited health_check_failures times without becoming ready
  kDraining,      // leaving: no new requests, stopping
};
std::string_view ReplicaStateName(ReplicaState state);  // "starting", "ready", ...
bool Unhealthy(ReplicaState state);

// One replica as the runtime sees it.
struct Replica {
  std::string name;  // unique within the service
  int revision = 0;
  std::string version;
  ReplicaState state = ReplicaState::kStarting;
  // Takes requests: ready and behind the load balancer (a Service's
  // endpoints), possibly at a traffic share of 0.
  bool serving = false;
  TimePoint started_at;  // first start: the youngest leave first
  int restarts = 0;      // crashes so far
  std::string reason;    // why it fails, or its most recent failure ("HTTP 503")
  // Runtime-specific facts for the operator (local: pid, port, weight, …).
  nlohmann::json details = nlohmann::json::object();
  bool operator==(const Replica&) const = default;
};

// What a strategy wants of one revision.
struct RevisionTarget {
  int revision = 0;
  int replicas = 0;
  // With TrafficPlan::split: this revision's share of the service's
  // traffic, 0..1 (the shares of a plan add up to 1).
  double share = 0;
  bool operator==(const RevisionTarget&) const = default;
};

// The whole service as a strategy wants it. A revision not named has no
// replicas. Carrying it out:
//  - replicas start to reach each count; extra ones leave, those not
//    serving first, then the youngest; unhealthy replicas are replaced;
//  - a replica gets traffic only once ready; a leaving one drains first;
//  - with `split`, each revision gets its share of the traffic however many
//    replicas serve it (a share 0 revision keeps serving replicas warm, out
//    of traffic); while the split changes, the newest revision never gets
//    more than the larger of its shares before and after, and traffic moves
//    away from a revision before it drains. Traffic is divided among the
//    revisions that have serving replicas, in proportion to their shares;
//    when all of those have share 0 they share it equally (fail open: a
//    revision rolled back to keeps serving until the one it replaces is
//    back). Without `split`, every serving replica gets an equal part (a
//    rolling update).
struct ServicePlan {
  std::vector<RevisionTarget> revisions;
  bool split = false;
  bool operator==(const ServicePlan&) const = default;
  const RevisionTarget* Find(int revision) const;
};

// "r1: 3 replicas at 90%, r2: 1 at 10%" (tests, logs).
std::string DebugString(const ServicePlan& plan);
void PrintTo(const ServicePlan& plan, std::ostream* out);

// The service's workload was changed by someone other than hut (kubectl
// rollout undo): it now runs `revision`, which the runtime follows rather
// than fights until a plan names that revision. Meanwhile Apply() changes
// no workload (an empty plan keeps it as it is) and sends the traffic to
// what runs.
struct OutOfBand {
  int revision = 0;
  std::string by;        // who changed it: "kubectl-rollout", ...
  bool settled = false;  // that revision runs on every replica, the rest gone
};

// What Observe() reports of a service.
struct Observation {
  std::vector<Replica> replicas;  // every replica that has not finished stopping
  // Revisions whose replicas cannot be started at all (a bad release: a
  // missing binary, an image that does not exist), with why.
  std::map<int, std::string> cannot_start;
  // The share of traffic each revision takes now (revisions with none absent).
  std::map<int, double> traffic;
  std::optional<OutOfBand> out_of_band;
  // The service's replica count as its autoscaler asks for it now, within
  // the spec's autoscaling range (Kubernetes: the HPA, through the
  // service's ServiceScale); absent: the spec's count holds.
  std::optional<int> scale;
};

// One thing Apply() changed, for the event log.
struct Change {
  std::string type;     // "replica.started", "replica.serving", "replica.weight", ...
  std::string message;  // a sentence for the operator
  nlohmann::json data = nlohmann::json::object();
};

struct ApplyResult {
  std::vector<Change> changes;  // what was done, in order
  absl::Status status;          // the first error; the rest was still tried
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Moves the service towards `plan` (see ServicePlan); `templates` gives
  // what each revision of the plan runs (a revision with replicas and no
  // template is an InvalidArgument in the result). Safe to repeat: applying
  // the same plan again changes only what changed in the world meanwhile.
  virtual ApplyResult Apply(const std::string& service, const ServicePlan& plan,
                            const std::map<int, RevisionTemplate>& templates) = 0;
  virtual absl::StatusOr<Observation> Observe(const std::string& service) = 0;
};

}  // namespace hut::runtime

#endif  // HUT_RUNTIME_RUNTIME_H_
