#ifndef HUT_KUBERNETES_POD_STATE_H_
#define HUT_KUBERNETES_POD_STATE_H_

// A pod as the Runtime seam reports a replica: its state read from the pod's
// status the kubelet writes (conditions, containerStatuses), classified as
// the local runtime classifies its processes.

#include <optional>
#include <string>

#include "nlohmann/json.hpp"
#include "src/common/clock.h"
#include "src/runtime/runtime.h"
#include "src/spec/spec.h"

namespace hut::kubernetes {

struct PodReading {
  runtime::Replica replica;
  // Set when the pod shows its release cannot start at all (the image
  // cannot be pulled, its configuration is missing): why.
  std::optional<std::string> cannot_start;
};

// `pod` (as TrimPod keeps it). A pod still not ready `health.start_period`
// after it started is failing: the kubelet marks it not ready only after
// failureThreshold failed checks, the rollback policy's count.
PodReading ReadPod(const nlohmann::json& pod, const spec::HealthCheck& health, TimePoint now);

// What hut keeps of each object type in its caches.
nlohmann::json TrimPod(const nlohmann::json& pod);
nlohmann::json TrimDeployment(const nlohmann::json& deployment);
nlohmann::json TrimReplicaSet(const nlohmann::json& rs);
nlohmann::json TrimService(const nlohmann::json& service);
nlohmann::json TrimRoute(const nlohmann::json& route);
// A ServiceScale: its metadata, spec.replicas and status.
nlohmann::json TrimServiceScale(const nlohmann::json& scale);
// An Ingress: its metadata and its ALB actions (`actions`: annotation -> value).
nlohmann::json TrimIngress(const nlohmann::json& ingress);

// An RFC 3339 time from the API; nullopt when it is not one.
std::optional<TimePoint> ParseApiTime(const std::string& text);

}  // namespace hut::kubernetes

#endif  // HUT_KUBERNETES_POD_STATE_H_
