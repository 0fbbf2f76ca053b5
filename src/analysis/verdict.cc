// Verdict::Message and Verdict::Json (declared in analysis.h).

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/analysis/analysis.h"
#include "src/common/log.h"
#include "src/common/units.h"

namespace hut::analysis {
namespace {

// 1204 -> "1,204".
std::string Count(uint64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// 0.182 -> "18.2 %"; 0.0004 -> "0.04 %"; NaN -> "n/a".
std::string Percent(double fraction) {
  if (std::isnan(fraction)) return "n/a";
  double pct = fraction * 100;
  if (pct != 0 && pct < 0.1) return absl::StrFormat("%.2f %%", pct);
  return absl::StrFormat("%.1f %%", pct);
}

// 2.0454 -> "2.05 s"; NaN -> "n/a".
std::string SecondsText(double s) {
  if (std::isnan(s)) return "n/a";
  return absl::StrFormat("%.3g s", s);
}

std::string PValue(double p) {
  if (p < 0.001) return "p < 0.001";
  return absl::StrFormat("p = %.3f", p);
}

std::string Dur(Duration d) { return FormatDuration(d); }

std::string Time(const std::optional<TimePoint>& t) {
  return t ? FormatTimestamp(*t) : std::string();
}

nlohmann::json OptionalTime(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(FormatTimestamp(*t)) : nlohmann::json(nullptr);
}

// "canary error rate 0.4 % vs baseline 0.5 %, P99 0.31 s over the last 30s, 9,012 requests"
std::string Summary(const Verdict& v) {
  const VerdictNumbers& n = v.numbers;
  return absl::StrCat("canary error rate ", Percent(n.canary.requests.Rate()), " vs baseline ",
                      Percent(n.baseline.requests.Rate()), ", P99 ",
                      SecondsText(n.p99_latency.value), " over the last ",
                      Dur(v.limits.rate_window), ", ", Count(n.canary.requests.trials),
                      " canary requests");
}

std::string RollbackReason(const Verdict& v) {
  const VerdictNumbers& n = v.numbers;
  const VerdictLimits& l = v.limits;
  switch (v.rule) {
    case Rule::kHealthChecks:
      return absl::StrCat("canary replica ", n.health_check_replica, " failed ",
                          n.health_check_failures, " consecutive health checks (limit ",
                          l.health_check_failures, ")");
    case Rule::kErrorRate:
      return absl::StrCat("canary error rate above ", Percent(l.error_rate), " for ",
                          Dur(l.error_rate_for), ": ", Percent(n.error_rate.value),
                          " over the last ", Dur(l.rate_window), " (",
                          Count(n.canary.window.events), " failed of ",
                          Count(n.canary.window.trials), " requests)");
    case Rule::kP99Latency:
      return absl::StrCat("canary P99 latency ", SecondsText(n.p99_latency.value), " above ",
                          SecondsText(l.p99_seconds),
                          l.p99_for > Duration(0) ? absl::StrCat(" for ", Dur(l.p99_for)) : "",
                          " over the last ", Dur(l.rate_window), " (",
                          Count(n.canary_window_latency_observations), " requests)");
    case Rule::kErrorRateVsBaseline: {
      const ComparisonNumbers& c = n.error_comparison;
      return absl::StrCat("canary error rate ", Percent(c.canary.Rate()), " vs baseline ",
                          Percent(c.baseline.Rate()), ", ", Count(c.canary.trials), " requests, ",
                          PValue(c.p_value));
    }
    case Rule::kLatencyVsBaseline: {
      const ComparisonNumbers& c = n.latency_comparison;
      return absl::StrCat("canary slower than baseline: ", Percent(c.canary.Rate()),
                          " of canary requests above the baseline's P",
                          absl::StrFormat("%g", 100 * l.latency_quantile), " (now ",
                          SecondsText(c.threshold_seconds), ") vs ", Percent(c.baseline.Rate()),
                          " of baseline requests, ", Count(c.canary.trials), " requests, ",
                          PValue(c.p_value));
    }
    case Rule::kMetricsUnavailable:
      return absl::StrCat("no metrics for ",
                          Dur(std::chrono::duration_cast<Duration>(
                              v.at - n.last_good_scrape.value_or(n.started_at))),
                          " (", n.failed_scrapes, " failed scrapes; limit ",
                          Dur(l.max_source_outage), "): ", n.source_error);
    default:
      return std::string(RuleName(v.rule));
  }
}

nlohmann::json GroupJson(const GroupNumbers& g) {
  return {
      {"requests", g.requests.trials},
      {"failed", g.requests.events},
      {"error_rate", g.requests.Rate()},
      {"window_requests", g.window.trials},
      {"window_failed", g.window.events},
      {"window_error_rate", g.window.Rate()},
      {"latency_observations", g.latency_observations},
  };
}

nlohmann::json ForRuleJson(const ForRuleNumbers& r, double threshold, Duration for_) {
  return {
      {"threshold", threshold},
      {"for", Dur(for_)},
      {"value", r.value},
      {"above", r.above},
      {"pending_since", OptionalTime(r.pending_since)},
      {"fired", r.fired},
  };
}

nlohmann::json ComparisonJson(const ComparisonNumbers& c) {
  nlohmann::json j = {
      {"enabled", c.enabled},
      {"available", c.available},
      {"rejected", c.rejected},
      {"p_value", c.p_value},
      {"e_relative", c.e_relative},
      {"e_absolute", c.e_absolute},
      {"canary_requests", c.canary.trials},
      {"canary_events", c.canary.events},
      {"canary_rate", c.canary.Rate()},
      {"baseline_requests", c.baseline.trials},
      {"baseline_events", c.baseline.events},
      {"baseline_rate", c.baseline.Rate()},
  };
  return j;
}

}  // namespace

std::string Verdict::Message() const {
  const VerdictNumbers& n = numbers;
  const Duration elapsed = std::chrono::duration_cast<Duration>(at - n.started_at);
  const Duration hold = std::chrono::duration_cast<Duration>(n.hold_ends_at - n.started_at);
  switch (decision) {
    case Decision::kRollback:
      return absl::StrCat("rolled back: ", RollbackReason(*this));
    case Decision::kPromote:
      return absl::StrCat("promote: no rule fired in ", Dur(elapsed), " of analysis; ",
                          Summary(*this));
    case Decision::kInconclusive: {
      uint64_t observed = n.canary.requests.trials;
      std::string what = "requests";
      if (observed >= limits.min_requests) {
        observed = n.canary.latency_observations;
        what = "latency observations";
      }
      return absl::StrCat("inconclusive: the canary had ", Count(observed), " ", what, " in ",
                          Dur(elapsed), " of analysis; at least ", Count(limits.min_requests),
                          " are needed to judge it");
    }
    case Decision::kContinue:
      break;
  }
  std::string head = at >= n.hold_ends_at
                         ? absl::StrCat("hold over after ", Dur(hold), ", waiting")
                         : absl::StrCat("analysing: ", Dur(elapsed), " of ", Dur(hold));
  switch (rule) {
    case Rule::kMetricsUnavailable:
      return absl::StrCat(
          head, "; metrics unavailable for ",
          Dur(std::chrono::duration_cast<Duration>(at - n.last_good_scrape.value_or(n.started_at))),
          " (", n.failed_scrapes, " failed scrapes; rolls back after ",
          Dur(limits.max_source_outage), "): ", n.source_error);
    case Rule::kErrorRate:
      return absl::StrCat(head, "; canary error rate ", Percent(n.error_rate.value), " above ",
                          Percent(limits.error_rate), " since ", Time(n.error_rate.pending_since),
                          " (fires after ", Dur(limits.error_rate_for), "); ", Summary(*this));
    case Rule::kP99Latency:
      return absl::StrCat(head, "; canary P99 ", SecondsText(n.p99_latency.value), " above ",
                          SecondsText(limits.p99_seconds), " since ",
                          Time(n.p99_latency.pending_since), " (fires after ", Dur(limits.p99_for),
                          "); ", Summary(*this));
    default:
      return absl::StrCat(head, "; ", Summary(*this));
  }
}

nlohmann::json Verdict::Json() const {
  const VerdictNumbers& n = numbers;
  nlohmann::json canary = GroupJson(n.canary);
  canary["window_latency_observations"] = n.canary_window_latency_observations;
  canary["window_p99_seconds"] = n.p99_latency.value;
  nlohmann::json latency = ComparisonJson(n.latency_comparison);
  latency["threshold_seconds"] = n.latency_comparison.threshold_seconds;
  return {
      {"at", FormatTimestamp(at)},
      {"decision", std::string(DecisionName(decision))},
      {"rule", std::string(RuleName(rule))},
      {"final", final},
      {"message", Message()},
      {"started_at", FormatTimestamp(n.started_at)},
      {"hold_ends_at", FormatTimestamp(n.hold_ends_at)},
      {"rate_window", Dur(limits.rate_window)},
      {"canary", canary},
      {"baseline", GroupJson(n.baseline)},
      {"health_checks",
       {{"replica", n.health_check_replica},
        {"consecutive_failures", n.health_check_failures},
        {"limit", limits.health_check_failures}}},
      {"error_rate", ForRuleJson(n.error_rate, limits.error_rate, limits.error_rate_for)},
      {"p99_latency", ForRuleJson(n.p99_latency, limits.p99_seconds, limits.p99_for)},
      {"error_rate_vs_baseline", ComparisonJson(n.error_comparison)},
      {"latency_vs_baseline", latency},
      {"max_false_rollback_rate", limits.alpha},
      {"source",
       {{"failed_scrapes", n.failed_scrapes},
        {"last_good_scrape", OptionalTime(n.last_good_scrape)},
        {"error", n.source_error},
        {"max_outage", Dur(limits.max_source_outage)}}},
      {"min_requests", limits.min_requests},
  };
}

}  // namespace hut::analysis
