#include "src/kubernetes/pod_state.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "src/kubernetes/api_client.h"
#include "src/kubernetes/objects.h"

namespace hut::kubernetes {
namespace {

using json = nlohmann::json;

// Waiting reasons that say the release cannot run at all, whatever is retried.
const std::set<std::string>& CannotStartReasons() {
  static const std::set<std::string> kReasons = {
      "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
      "CreateContainerConfigError", "CreateContainerError"};
  return kReasons;
}

const json& Field(const json& o, const char* key) {
  static const json kNull;
  if (!o.is_object()) return kNull;
  auto it = o.find(key);
  return it == o.end() ? kNull : *it;
}

std::string Str(const json& o, const char* key) {
  const json& v = Field(o, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

const json* Condition(const json& status, const std::string& type) {
  const json& conditions = Field(status, "conditions");
  if (!conditions.is_array()) return nullptr;
  for (const json& c : conditions) {
    if (Str(c, "type") == type) return &c;
  }
  return nullptr;
}

// Copies the listed keys of `from` that exist.
json Keep(const json& from, std::initializer_list<const char*> keys) {
  json out = json::object();
  for (const char* k : keys) {
    if (const json& v = Field(from, k); !v.is_null()) out[k] = v;
  }
  return out;
}

json TrimMetadata(const json& object) {
  const json& m = Field(object, "metadata");
  json out = Keep(m, {"name", "namespace", "uid", "resourceVersion", "generation", "labels",
                      "creationTimestamp", "deletionTimestamp"});
  json annotations = json::object();
  static const json kNone = json::object();
  const json& given = Field(m, "annotations").is_object() ? Field(m, "annotations") : kNone;
  for (const auto& [k, v] : given.items()) {
    if (k.starts_with("hut.foohut.dev/") || k == "deployment.kubernetes.io/revision") {
      annotations[k] = v;
    }
  }
  if (!annotations.empty()) out["annotations"] = annotations;
  json owners = json::array();
  for (const json& o : Field(m, "ownerReferences").is_array() ? Field(m, "ownerReferences")
                                                              : json::array()) {
    if (Field(o, "controller").is_boolean() && o["controller"].get<bool>()) {
      owners.push_back(Keep(o, {"kind", "name", "uid"}));
    }
  }
  if (!owners.empty()) out["ownerReferences"] = owners;
  return out;
}

}  // namespace

std::optional<TimePoint> ParseApiTime(const std::string& text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return std::nullopt;
  return absl::ToChronoTime(t);
}

json TrimPod(const json& pod) {
  json out = {{"metadata", TrimMetadata(pod)}};
  out["spec"] = Keep(Field(pod, "spec"), {"nodeName"});
  const json& status = Field(pod, "status");
  json s = Keep(status, {"phase", "reason", "message", "podIP", "startTime"});
  json conditions = json::array();
  for (const char* type : {"Ready", "PodScheduled"}) {
    if (const json* c = Condition(status, type)) {
      conditions.push_back(Keep(*c, {"type", "status", "reason", "message", "lastTransitionTime"}));
    }
  }
  s["conditions"] = conditions;
  const json& containers = Field(status, "containerStatuses");
  if (containers.is_array() && !containers.empty()) {
    s["containerStatuses"] = json::array(
        {Keep(containers[0], {"ready", "started", "restartCount", "state", "lastState", "image"})});
  }
  out["status"] = s;
  return out;
}

// Whether the fieldsV1 set `theirs` holds a field `ours` does not.
bool Beyond(const json& theirs, const json& ours) {
  if (!theirs.is_object()) return false;
  for (const auto& [key, sub] : theirs.items()) {
    const json& mine = Field(ours, key.c_str());
    if (mine.is_null() || Beyond(sub, mine)) return true;
  }
  return false;
}

const json& TemplateFields(const json& entry) {
  return Field(Field(Field(entry, "fieldsV1"), "f:spec"), "f:template");
}

// The field managers other than hut that own part of `d`'s pod template hut
// does not (kubectl rollout undo, kubectl edit, helm): from
// metadata.managedFields. Once hut applies the same values again it owns
// them too, and they no longer count.
json TemplateManagers(const json& d) {
  const json& fields = Field(Field(d, "metadata"), "managedFields");
  const json& entries = fields.is_array() ? fields : json::array();
  json ours = json::object();
  for (const json& m : entries) {
    if (Str(m, "manager") == kFieldManager && Str(m, "subresource").empty()) {
      ours = TemplateFields(m);
    }
  }
  json out = json::array();
  for (const json& m : entries) {
    const std::string manager = Str(m, "manager");
    if (manager == kFieldManager || !Str(m, "subresource").empty()) continue;
    if (Beyond(TemplateFields(m), ours)) out.push_back(manager);
  }
  return out;
}

json TrimDeployment(const json& d) {
  const json& spec = Field(d, "spec");
  json tmeta = Field(Field(spec, "template"), "metadata");
  json meta = TrimMetadata(d);
  if (json managers = TemplateManagers(d); !managers.empty()) meta["templateManagers"] = managers;
  return {{"metadata", meta},
          {"spec",
           {{"replicas", Field(spec, "replicas")},
            {"template", {{"metadata", Keep(tmeta, {"labels", "annotations"})}}}}},
          {"status", Keep(Field(d, "status"), {"replicas", "readyReplicas", "updatedReplicas",
                                               "availableReplicas", "observedGeneration",
                                               "conditions"})}};
}

json TrimReplicaSet(const json& rs) {
  const json& spec = Field(rs, "spec");
  return {{"metadata", TrimMetadata(rs)},
          {"spec", {{"replicas", Field(spec, "replicas")}}},
          {"status", Keep(Field(rs, "status"), {"replicas", "readyReplicas"})}};
}

json TrimService(const json& service) {
  return {{"metadata", TrimMetadata(service)},
          {"spec", Keep(Field(service, "spec"), {"selector"})}};
}

json TrimServiceScale(const json& scale) {
  return {{"metadata", TrimMetadata(scale)},
          {"spec", Keep(Field(scale, "spec"), {"replicas"})},
          {"status", Keep(Field(scale, "status"), {"replicas", "selector"})}};
}

json TrimRoute(const json& route) {
  const json& spec = Field(route, "spec");
  json out = {{"metadata", TrimMetadata(route)}, {"backendRefs", json::array()}};
  if (spec.contains("parentRefs")) out["parentRefs"] = spec["parentRefs"];
  if (spec.contains("hostnames")) out["hostnames"] = spec["hostnames"];
  const json& rules = Field(spec, "rules");
  if (rules.is_array() && !rules.empty()) {
    if (rules[0].contains("matches")) out["matches"] = rules[0]["matches"];
    const json& refs = Field(rules[0], "backendRefs");
    for (const json& r : refs.is_array() ? refs : json::array()) {
      out["backendRefs"].push_back(Keep(r, {"name", "weight"}));
    }
  }
  return out;
}

json TrimIngress(const json& ingress) {
  json actions = json::object();
  const json& annotations = Field(Field(ingress, "metadata"), "annotations");
  if (annotations.is_object()) {
    for (const auto& [k, v] : annotations.items()) {
      if (k.starts_with("alb.ingress.kubernetes.io/actions.")) actions[k] = v;
    }
  }
  return {{"metadata", TrimMetadata(ingress)}, {"actions", actions}};
}

PodReading ReadPod(const json& pod, const spec::HealthCheck& health, TimePoint now) {
  PodReading out;
  runtime::Replica& r = out.replica;
  const json& meta = Field(pod, "metadata");
  const json& status = Field(pod, "status");
  r.name = Str(meta, "name");
  int revision = 0;
  if (absl::SimpleAtoi(Str(Field(meta, "labels"), std::string(kLabelRevision).c_str()), &revision)) {
    r.revision = revision;
  }
  r.version = Str(Field(meta, "annotations"), std::string(kAnnotationVersion).c_str());
  const std::string started = Str(status, "startTime");
  r.started_at = ParseApiTime(started.empty() ? Str(meta, "creationTimestamp") : started)
                     .value_or(now);
  r.details = {{"pod", r.name},
               {"phase", Str(status, "phase")},
               {"node", Str(Field(pod, "spec"), "nodeName")},
               {"ip", Str(status, "podIP")}};

  const json& containers = Field(status, "containerStatuses");
  const json& container = containers.is_array() && !containers.empty() ? containers[0] : json();
  r.restarts = Field(container, "restartCount").is_number() ? container["restartCount"].get<int>() : 0;
  const json& waiting = Field(Field(container, "state"), "waiting");
  const std::string waiting_reason = Str(waiting, "reason");
  const json* ready = Condition(status, "Ready");
  const bool is_ready = ready != nullptr && Str(*ready, "status") == "True";

  if (!Field(meta, "deletionTimestamp").is_null()) {
    r.state = runtime::ReplicaState::kDraining;
  } else if (CannotStartReasons().contains(waiting_reason)) {
    r.state = runtime::ReplicaState::kStarting;
    r.reason = absl::StrCat(waiting_reason, ": ", Str(waiting, "message"));
    out.cannot_start = absl::StrCat("pod ", r.name, " cannot start its container (image ",
                                    Str(container, "image"), "): ", r.reason);
  } else if (waiting_reason == "CrashLoopBackOff") {
    r.state = runtime::ReplicaState::kCrashLooping;
    const json& last = Field(Field(container, "lastState"), "terminated");
    r.reason = absl::StrCat("CrashLoopBackOff after ", r.restarts, " restarts",
                            last.is_null() ? "" : absl::StrCat(" (last exit: ", Str(last, "reason"),
                                                               ")"));
  } else if (is_ready) {
    r.state = runtime::ReplicaState::kReady;
  } else if (Str(status, "phase") == "Running" && now - r.started_at > health.start_period) {
    r.state = runtime::ReplicaState::kFailing;
    r.reason = absl::StrCat("not ready ", std::chrono::duration_cast<std::chrono::seconds>(
                                              now - r.started_at).count(),
                            " s after it started",
                            ready != nullptr && !Str(*ready, "message").empty()
                                ? absl::StrCat(" (", Str(*ready, "message"), ")")
                                : "");
  } else {
    r.state = runtime::ReplicaState::kStarting;
    if (const json* sched = Condition(status, "PodScheduled");
        sched != nullptr && Str(*sched, "status") == "False") {
      r.reason = absl::StrCat(Str(*sched, "reason"), ": ", Str(*sched, "message"));
    }
  }
  r.serving = r.state == runtime::ReplicaState::kReady;
  return out;
}

}  // namespace hut::kubernetes
