#include "src/spec/spec.h"

namespace hut::spec {

std::string_view Name(Runtime v) {
  switch (v) {
    case Runtime::kLocal:
      return "local";
    case Runtime::kKubernetes:
      return "kubernetes";
  }
  return "?";
}

std::string_view Name(Strategy v) {
  switch (v) {
    case Strategy::kReplace:
      return "replace";
    case Strategy::kRolling:
      return "rolling";
    case Strategy::kCanary:
      return "canary";
  }
  return "?";
}

std::string_view Name(TriggerEvent v) {
  switch (v) {
    case TriggerEvent::kManual:
      return "manual";
    case TriggerEvent::kPush:
      return "push";
    case TriggerEvent::kTag:
      return "tag";
  }
  return "?";
}

std::string_view Name(InconclusiveAction v) {
  switch (v) {
    case InconclusiveAction::kExtend:
      return "extend";
    case InconclusiveAction::kPause:
      return "pause";
    case InconclusiveAction::kFail:
      return "fail";
  }
  return "?";
}

std::string_view Name(BackingKind v) {
  switch (v) {
    case BackingKind::kPostgresql:
      return "postgresql";
    case BackingKind::kRedis:
      return "redis";
  }
  return "?";
}

std::string_view Name(Severity v) {
  switch (v) {
    case Severity::kCritical:
      return "critical";
    case Severity::kHigh:
      return "high";
    case Severity::kMedium:
      return "medium";
    case Severity::kLow:
      return "low";
    case Severity::kWarning:
      return "warning";
    case Severity::kInfo:
      return "info";
  }
  return "?";
}

std::string_view Name(AlertChannel v) {
  switch (v) {
    case AlertChannel::kPage:
      return "page";
    case AlertChannel::kChat:
      return "chat";
    case AlertChannel::kDigest:
      return "digest";
  }
  return "?";
}

std::string_view Name(LogFormat v) {
  switch (v) {
    case LogFormat::kJson:
      return "json";
  }
  return "?";
}

std::vector<CanaryStep> CanaryPolicy::EffectiveSteps() const {
  if (!steps.empty()) return steps;
  return {CanaryStep{weight, analysis}};
}

const ServiceDeployment* Environment::FindService(std::string_view name) const {
  for (const ServiceDeployment& s : services) {
    if (s.service == name) return &s;
  }
  return nullptr;
}

const Service* Spec::FindService(std::string_view name) const {
  for (const Service& s : services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const Environment* Spec::FindEnvironment(std::string_view name) const {
  for (const Environment& e : environments) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const Policies* Spec::PoliciesFor(std::string_view env) const {
  const Environment* e = FindEnvironment(env);
  return e == nullptr ? nullptr : &e->policies;
}

}  // namespace hut::spec
