#include "src/runtime/runtime.h"

#include <ostream>

#include "absl/strings/str_cat.h"

namespace hut::runtime {

std::string_view ReplicaStateName(ReplicaState state) {
  switch (state) {
    case ReplicaState::kStarting:
      return "starting";
    case ReplicaState::kReady:
      return "ready";
    case ReplicaState::kFailing:
      return "failing";
    case ReplicaState::kCrashLooping:
      return "crash-looping";
    case ReplicaState::kDraining:
      return "draining";
  }
  return "unknown";
}

bool Unhealthy(ReplicaState state) {
  return state == ReplicaState::kFailing || state == ReplicaState::kCrashLooping;
}

const RevisionTarget* ServicePlan::Find(int revision) const {
  for (const RevisionTarget& r : revisions) {
    if (r.revision == revision) return &r;
  }
  return nullptr;
}

std::string DebugString(const ServicePlan& plan) {
  std::string out;
  for (const RevisionTarget& r : plan.revisions) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", "r", r.revision, ": ", r.replicas);
    if (plan.split) absl::StrAppend(&out, " at ", r.share * 100, "%");
  }
  return out.empty() ? "no replicas" : out;
}

void PrintTo(const ServicePlan& plan, std::ostream* out) { *out << DebugString(plan); }

}  // namespace hut::runtime
