#include "src/spec/spec.h"

#include <cctype>

#include "absl/strings/str_cat.h"

namespace hut::spec {

std::string_view Name(RouterKind v) {
  switch (v) {
    case RouterKind::kGatewayApi:
      return "gateway-api";
    case RouterKind::kAlb:
      return "alb";
    case RouterKind::kReplicas:
      return "replicas";
  }
  return "?";
}

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

std::string_view Name(SecretBackendKind v) {
  switch (v) {
    case SecretBackendKind::kLocal:
      return "local";
    case SecretBackendKind::kAwsSecretsManager:
      return "aws-secrets-manager";
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

std::string ExpandPlaceholders(std::string_view text, const ReleaseContext& context) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t open = text.find("{{", pos);
    const size_t close = open == std::string_view::npos ? open : text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      out.append(text.substr(pos));
      return out;
    }
    out.append(text.substr(pos, open - pos));
    std::string_view name = text.substr(open + 2, close - open - 2);
    // Whitespace inside the braces is ignored, as the loader does.
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.front()))) {
      name.remove_prefix(1);
    }
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) {
      name.remove_suffix(1);
    }
    std::optional<std::string> value;
    if (name == "version") {
      value = context.version;
    } else if (name == "port") {
      value = std::to_string(context.port);
    } else if (name == "replica") {
      value = std::to_string(context.replica);
    } else if (name == "service") {
      value = context.service;
    } else if (name == "environment") {
      value = context.environment;
    } else if (name.starts_with("backing.") && name.ends_with(".url")) {
      auto it = context.backing_urls.find(std::string(name.substr(8, name.size() - 8 - 4)));
      if (it != context.backing_urls.end()) value = it->second;
    } else if (name.starts_with("backing.") && name.ends_with(".password_file")) {
      auto it = context.backing_password_files.find(
          std::string(name.substr(8, name.size() - 8 - 14)));
      if (it != context.backing_password_files.end()) value = it->second;
    } else if (name.starts_with("secrets.") && name.ends_with(".file")) {
      auto it = context.secret_files.find(std::string(name.substr(8, name.size() - 8 - 5)));
      if (it != context.secret_files.end()) value = it->second;
    }
    out.append(value ? *value : std::string(text.substr(open, close + 2 - open)));
    pos = close + 2;
  }
}

bool NamesSecret(const Release& release, std::string_view secret) {
  const std::string needle = absl::StrCat("secrets.", std::string(secret), ".");
  for (const std::string& arg : release.command) {
    if (arg.find(needle) != std::string::npos) return true;
  }
  for (const auto& [name, value] : release.env) {
    if (value.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::set<std::string> BackingServicesNamed(const Release& release) {
  std::set<std::string> out;
  auto scan = [&out](std::string_view text) {
    for (size_t open = text.find("{{"); open != std::string_view::npos;
         open = text.find("{{", open + 2)) {
      const size_t close = text.find("}}", open + 2);
      if (close == std::string_view::npos) return;
      std::string_view name = text.substr(open + 2, close - open - 2);
      while (!name.empty() && std::isspace(static_cast<unsigned char>(name.front()))) {
        name.remove_prefix(1);
      }
      constexpr std::string_view kPrefix = "backing.";
      const size_t last_dot = name.rfind('.');
      if (name.starts_with(kPrefix) && last_dot > kPrefix.size()) {
        out.insert(std::string(name.substr(kPrefix.size(), last_dot - kPrefix.size())));
      }
    }
  };
  for (const std::string& arg : release.command) scan(arg);
  for (const auto& [name, value] : release.env) scan(value);
  return out;
}

Release ExpandRelease(const Release& release, const ReleaseContext& context) {
  Release out;
  for (const std::string& arg : release.command) {
    out.command.push_back(ExpandPlaceholders(arg, context));
  }
  for (const auto& [name, value] : release.env) {
    out.env[name] = ExpandPlaceholders(value, context);
  }
  out.image = ExpandPlaceholders(release.image, context);
  return out;
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

int HealthCheckFailures(const Policies& policies, const Service& service) {
  return service.health.failure_threshold.value_or(policies.rollback.health_check_failures);
}

const Policies* Spec::PoliciesFor(std::string_view env) const {
  const Environment* e = FindEnvironment(env);
  return e == nullptr ? nullptr : &e->policies;
}

}  // namespace hut::spec
