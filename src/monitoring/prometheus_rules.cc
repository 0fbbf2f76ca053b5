#include "src/monitoring/prometheus_rules.h"

#include <cctype>
#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "src/common/units.h"
#include "yaml-cpp/yaml.h"

namespace hut::monitoring {
namespace {

std::string Number(double v) { return absl::StrFormat("%g", v); }

std::string Seconds(Duration d) {
  return Number(std::chrono::duration<double>(d).count());
}

// A PromQL string literal: the spec's regexes are quoted as Go strings.
std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

struct Rule {
  std::string record;  // a recording rule, or
  std::string alert;   // an alerting rule
  std::string expr;
  Duration for_{0};
  std::string severity;
  std::string summary;
  std::string description;
  std::string runbook_url;  // alerts: its page in docs/runbooks/
  // Static labels: the environment (and service) the rule is about, which
  // its result has anyway; they keep one rule name per environment distinct.
  std::vector<std::pair<std::string, std::string>> labels;
};

Rule Record(std::string name, std::string expr) {
  Rule r;
  r.record = std::move(name);
  r.expr = std::move(expr);
  return r;
}

Rule Alert(std::string name, std::string expr, Duration for_, std::string severity,
           std::string summary, std::string description) {
  return {"", std::move(name), std::move(expr), for_, std::move(severity), std::move(summary),
          std::move(description), "", {}};
}

// An alert's runbook page: HighErrorRate -> high-error-rate.md.
std::string RunbookPage(std::string_view alert) {
  std::string page;
  for (char c : alert) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (!page.empty()) page += '-';
      page += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      page += c;
    }
  }
  return page + ".md";
}

// The selector of a service's request series: its environment and service,
// without the routes its spec leaves out of the analysis.
std::string Selector(std::string_view environment, const spec::Service& s,
                     std::string_view extra = "") {
  std::string out = absl::StrCat("environment=", Quoted(environment), ",service=", Quoted(s.name));
  if (!s.metrics.exclude_routes.empty()) {
    absl::StrAppend(&out, ",route!~", Quoted(s.metrics.exclude_routes));
  }
  if (!extra.empty()) absl::StrAppend(&out, ",", std::string(extra));
  return out;
}

void AddRed(std::vector<Rule>& rules, std::string_view environment, const spec::Service& s) {
  const spec::MetricQueries& m = s.metrics;
  const std::string all = Selector(environment, s);
  const std::string errors =
      Selector(environment, s, absl::StrCat("code=~", Quoted(m.error_codes)));
  for (std::string_view level : {"service", "service_version"}) {
    const std::string by = level == "service" ? "environment, service"
                                              : "environment, service, version";
    const std::string prefix(level);
    const std::string self = absl::StrCat("{", "environment=", Quoted(environment),
                                          ",service=", Quoted(s.name), "}");
    rules.push_back(Record(prefix + ":http_requests:rate1m",
                           absl::StrCat("sum by (", by, ") (rate(", m.requests, "{", all,
                                        "}[1m]))")));
    rules.push_back(Record(prefix + ":http_errors:rate1m",
                           absl::StrCat("sum by (", by, ") (rate(", m.requests, "{", errors,
                                        "}[1m]))")));
    // A service that never failed has no error series: its ratio is 0, not absent.
    rules.push_back(Record(prefix + ":http_error_ratio:rate1m",
                           absl::StrCat("(", prefix, ":http_errors:rate1m", self, " or ", prefix,
                                        ":http_requests:rate1m", self, " * 0) / ", prefix,
                                        ":http_requests:rate1m", self)));
    rules.push_back(Record(prefix + ":http_request_duration_seconds:p99_1m",
                           absl::StrCat("histogram_quantile(0.99, sum by (", by, ", le) (rate(",
                                        m.latency, "{", all, "}[1m])))")));
  }
  for (Rule& r : rules) {
    if (r.labels.empty()) r.labels = {{"environment", std::string(environment)}, {"service", s.name}};
  }
}

void AddAlerts(std::vector<Rule>& rules, const spec::Environment& env) {
  const spec::AlertRules& r = env.policies.alerting.rules;
  const std::string e = absl::StrCat("environment=", Quoted(env.name));
  // Down: every target of the service fails its scrape, or it has none at all.
  std::vector<std::string> services;
  std::string down;
  for (const spec::ServiceDeployment& s : env.services) {
    services.push_back(s.service);
    absl::StrAppend(&down, " or absent(up{", e, ",service=", Quoted(s.service), "})");
  }
  down = absl::StrCat("max by (environment, service) (up{", e, ",service=~",
                      Quoted(absl::StrJoin(services, "|")), "}) == 0", down);
  rules.push_back(Alert("ServiceDown", down, r.service_down_for, "critical",
                        "{{ $labels.service }} is down in {{ $labels.environment }}",
                        absl::StrCat("No replica of {{ $labels.service }} has answered a scrape "
                                     "for ",
                                     FormatDuration(r.service_down_for),
                                     ", or none is a target.")));
  const auto error_alert = [&](const char* name, const char* severity, const spec::RateAlert& a) {
    rules.push_back(Alert(
        name,
        absl::StrCat("service:http_error_ratio:rate1m{", e, "} > ", Number(a.threshold)), a.for_,
        severity,
        "{{ $labels.service }} in {{ $labels.environment }}: "
        "{{ $value | humanizePercentage }} of requests fail",
        absl::StrCat("The error ratio has been above ", FormatPercent(a.threshold), " for ",
                     FormatDuration(a.for_), ".")));
  };
  error_alert("HighErrorRate", "critical", r.error_rate);
  error_alert("ElevatedErrorRate", "medium", r.elevated_error_rate);
  const auto latency_alert = [&](const char* name, const char* severity,
                                 const spec::LatencyAlert& a) {
    rules.push_back(Alert(name,
                          absl::StrCat("service:http_request_duration_seconds:p99_1m{", e,
                                       "} > ", Seconds(a.p99)),
                          a.for_, severity,
                          "{{ $labels.service }} in {{ $labels.environment }}: P99 latency "
                          "{{ $value | humanizeDuration }}",
                          absl::StrCat("The P99 request latency has been above ",
                                       FormatDuration(a.p99), " for ", FormatDuration(a.for_),
                                       ".")));
  };
  latency_alert("HighLatency", "high", r.high_latency);
  latency_alert("PerformanceDegradation", "low", r.performance_degradation);
  // Real filesystems only: not tmpfs and the like, whose free space is memory.
  const std::string disks =
      absl::StrCat("{", e, ",fstype!~\"tmpfs|ramfs|devtmpfs|overlay|squashfs|nsfs\"}");
  rules.push_back(Alert("LowDiskSpace",
                        absl::StrCat("node_filesystem_avail_bytes", disks,
                                     " / node_filesystem_size_bytes", disks, " < ",
                                     Number(r.low_disk.threshold)),
                        r.low_disk.for_, "high",
                        "{{ $labels.instance }}: {{ $labels.mountpoint }} has "
                        "{{ $value | humanizePercentage }} free",
                        absl::StrCat("Free space has been below ",
                                     FormatPercent(r.low_disk.threshold), " for ",
                                     FormatDuration(r.low_disk.for_), ".")));
  for (Rule& rule : rules) {
    rule.labels = {{"environment", env.name}};
    rule.runbook_url = env.policies.alerting.runbooks + RunbookPage(rule.alert);
  }
}

void Emit(YAML::Emitter& out, const std::string& name, const std::vector<Rule>& rules) {
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << name;
  out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
  for (const Rule& rule : rules) {
    out << YAML::BeginMap;
    if (!rule.record.empty()) {
      out << YAML::Key << "record" << YAML::Value << rule.record;
      out << YAML::Key << "expr" << YAML::Value << rule.expr;
      out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
      for (const auto& [k, v] : rule.labels) out << YAML::Key << k << YAML::Value << v;
      out << YAML::EndMap;
    } else {
      out << YAML::Key << "alert" << YAML::Value << rule.alert;
      out << YAML::Key << "expr" << YAML::Value << rule.expr;
      out << YAML::Key << "for" << YAML::Value << FormatDuration(rule.for_);
      out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap << YAML::Key << "severity"
          << YAML::Value << rule.severity;
      for (const auto& [k, v] : rule.labels) out << YAML::Key << k << YAML::Value << v;
      out << YAML::EndMap;
      out << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
      out << YAML::Key << "summary" << YAML::Value << YAML::DoubleQuoted << rule.summary;
      out << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted << rule.description;
      out << YAML::Key << "runbook_url" << YAML::Value << rule.runbook_url;
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
}

}  // namespace

absl::StatusOr<std::string> PrometheusRules(const spec::Spec& spec, std::string_view environment) {
  std::vector<const spec::Environment*> envs;
  for (const spec::Environment& e : spec.environments) {
    if (environment.empty() || e.name == environment) envs.push_back(&e);
  }
  if (envs.empty()) {
    return absl::NotFoundError(absl::StrCat("no environment ", std::string(environment), " in the spec"));
  }
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
  for (const spec::Environment* env : envs) {
    std::vector<Rule> red;
    for (const spec::ServiceDeployment& d : env->services) {
      if (const spec::Service* s = spec.FindService(d.service)) AddRed(red, env->name, *s);
    }
    Emit(out, absl::StrCat("hut:", env->name, ":red"), red);
    std::vector<Rule> alerts;
    AddAlerts(alerts, *env);
    Emit(out, absl::StrCat("hut:", env->name, ":alerts"), alerts);
  }
  out << YAML::EndSeq << YAML::EndMap;
  if (!out.good()) return absl::InternalError(absl::StrCat("rules YAML: ", out.GetLastError()));
  return absl::StrCat(
      "# Generated by `hut monitoring rules` from the spec (policies.alerting.rules,\n"
      "# services.S.metrics): edit the spec, not this file.\n",
      out.c_str(), "\n");
}

}  // namespace hut::monitoring
