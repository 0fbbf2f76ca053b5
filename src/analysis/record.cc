#include "src/analysis/record.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "src/common/log.h"
#include "src/common/units.h"

namespace hut::analysis {
namespace {

using nlohmann::json;

absl::Status Bad(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(where), ": ", std::string(what)));
}

absl::StatusOr<TimePoint> ParseTime(const json& j, std::string_view where) {
  if (!j.is_string()) return Bad(where, "expected an RFC 3339 time string");
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, j.get<std::string>(), &t, &error)) {
    return Bad(where, absl::StrCat("bad time: ", error));
  }
  return std::chrono::time_point_cast<TimePoint::duration>(absl::ToChronoTime(t));
}

absl::StatusOr<Duration> ParseDur(const json& j, std::string_view where) {
  if (!j.is_string()) return Bad(where, "expected a duration such as \"30s\"");
  absl::StatusOr<Duration> d = ParseDuration(j.get<std::string>());
  if (!d.ok()) return Bad(where, std::string(d.status().message()));
  return *d;
}

// Reads an optional field of `obj` into `out` with `parse`.
template <typename T, typename Parse>
absl::Status Field(const json& obj, const char* key, std::string_view where, T& out, Parse parse) {
  auto it = obj.find(key);
  if (it == obj.end()) return absl::OkStatus();
  absl::StatusOr<T> v = parse(*it, absl::StrCat(std::string(where), ".", key));
  if (!v.ok()) return v.status();
  out = *std::move(v);
  return absl::OkStatus();
}

auto Number(double lo, double hi) {
  return [lo, hi](const json& j, const std::string& where) -> absl::StatusOr<double> {
    if (!j.is_number()) return Bad(where, "expected a number");
    double v = j.get<double>();
    if (!(v >= lo && v <= hi)) return Bad(where, absl::StrCat("out of range [", lo, ", ", hi, "]"));
    return v;
  };
}

absl::StatusOr<uint64_t> Unsigned(const json& j, const std::string& where) {
  if (!j.is_number_unsigned()) return Bad(where, "expected a non-negative integer");
  return j.get<uint64_t>();
}

absl::StatusOr<int> Int(const json& j, const std::string& where) {
  if (!j.is_number_integer()) return Bad(where, "expected an integer");
  return j.get<int>();
}

absl::StatusOr<bool> Bool(const json& j, const std::string& where) {
  if (!j.is_boolean()) return Bad(where, "expected true or false");
  return j.get<bool>();
}

absl::StatusOr<Duration> Dur(const json& j, const std::string& where) { return ParseDur(j, where); }

absl::StatusOr<spec::InconclusiveAction> Action(const json& j, const std::string& where) {
  for (auto a : {spec::InconclusiveAction::kExtend, spec::InconclusiveAction::kPause,
                 spec::InconclusiveAction::kFail}) {
    if (j.is_string() && j.get<std::string>() == spec::Name(a)) return a;
  }
  return Bad(where, "expected \"extend\", \"pause\" or \"fail\"");
}

json HistogramToJson(const LatencyHistogram& h) {
  json le = json::array();
  for (double b : h.upper_bounds) {
    if (std::isinf(b)) {
      le.push_back(b > 0 ? "+Inf" : "-Inf");
    } else {
      le.push_back(b);
    }
  }
  return {{"le", le}, {"counts", h.cumulative_counts}};
}

absl::StatusOr<LatencyHistogram> HistogramFromJson(const json& j, const std::string& where) {
  if (!j.is_object()) return Bad(where, "expected an object");
  LatencyHistogram h;
  auto le = j.find("le");
  auto counts = j.find("counts");
  if (le == j.end() || !le->is_array()) return Bad(where, "\"le\" must be an array");
  if (counts == j.end() || !counts->is_array()) return Bad(where, "\"counts\" must be an array");
  for (const json& b : *le) {
    if (b.is_number()) {
      h.upper_bounds.push_back(b.get<double>());
    } else if (b.is_string() && (b == "+Inf" || b == "-Inf")) {
      h.upper_bounds.push_back(b == "+Inf" ? std::numeric_limits<double>::infinity()
                                           : -std::numeric_limits<double>::infinity());
    } else {
      return Bad(where, "a bound must be a number, \"+Inf\" or \"-Inf\"");
    }
  }
  for (const json& c : *counts) {
    if (!c.is_number_unsigned()) return Bad(where, "counts must be non-negative integers");
    h.cumulative_counts.push_back(c.get<uint64_t>());
  }
  return h;
}

json SeriesToJson(const SeriesSample& s) {
  json j = {
      {"requests", s.requests},
      {"responses_5xx", s.responses_5xx},
      {"connection_errors", s.connection_errors},
      {"timeouts", s.timeouts},
  };
  if (!s.latency.Empty()) j["latency"] = HistogramToJson(s.latency);
  return j;
}

absl::StatusOr<SeriesSample> SeriesFromJson(const json& j, const std::string& where) {
  if (!j.is_object()) return Bad(where, "expected an object");
  SeriesSample s;
  absl::Status st;
  st.Update(Field(j, "requests", where, s.requests, Unsigned));
  st.Update(Field(j, "responses_5xx", where, s.responses_5xx, Unsigned));
  st.Update(Field(j, "connection_errors", where, s.connection_errors, Unsigned));
  st.Update(Field(j, "timeouts", where, s.timeouts, Unsigned));
  st.Update(Field(j, "latency", where, s.latency, HistogramFromJson));
  if (!st.ok()) return st;
  return s;
}

json SampleToJson(const MetricSample& s) {
  json series = json::object();
  for (const auto& [name, one] : s.series) series[name] = SeriesToJson(one);
  json j = {{"series", series}};
  if (!s.health_check_failures.empty()) j["health_check_failures"] = s.health_check_failures;
  return j;
}

absl::StatusOr<MetricSample> SampleFromJson(const json& j, const std::string& where) {
  if (!j.is_object()) return Bad(where, "expected an object");
  MetricSample s;
  if (auto it = j.find("series"); it != j.end()) {
    if (!it->is_object()) return Bad(where, "series must be an object");
    for (const auto& [name, one] : it->items()) {
      absl::StatusOr<SeriesSample> series =
          SeriesFromJson(one, absl::StrCat(where, ".series.", name));
      if (!series.ok()) return series.status();
      s.series[name] = *std::move(series);
    }
  }
  if (auto it = j.find("health_check_failures"); it != j.end()) {
    if (!it->is_object()) return Bad(where, "health_check_failures must be an object");
    for (const auto& [replica, n] : it->items()) {
      if (!n.is_number_integer())
        return Bad(where, "health_check_failures values must be integers");
      s.health_check_failures[replica] = n.get<int>();
    }
  }
  return s;
}

absl::StatusOr<absl::StatusCode> CodeFromName(const std::string& name) {
  for (int c = 0; c <= 16; ++c) {
    auto code = static_cast<absl::StatusCode>(c);
    if (absl::StatusCodeToString(code) == name) return code;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown status code ", name));
}

}  // namespace

json ConfigToJson(const AnalysisConfig& c) {
  const AnalysisOptions& o = c.options;
  return {
      {"hold", FormatDuration(c.hold)},
      {"max_false_rollback_rate", c.max_false_rollback_rate},
      {"inconclusive", std::string(spec::Name(c.inconclusive))},
      {"rollback",
       {{"automatic", c.rollback.automatic},
        {"health_check_failures", c.rollback.health_check_failures},
        {"error_rate",
         {{"threshold", c.rollback.error_rate.threshold},
          {"for", FormatDuration(c.rollback.error_rate.for_)}}},
        {"p99_latency",
         {{"threshold", FormatDuration(c.rollback.p99_latency.threshold)},
          {"for", FormatDuration(c.rollback.p99_latency.for_)}}}}},
      {"options",
       {{"rate_window", FormatDuration(o.rate_window)},
        {"estimate_window", FormatDuration(o.estimate_window)},
        {"min_requests", o.min_requests},
        {"min_window_latency_observations", o.min_window_latency_observations},
        {"require_latency", o.require_latency},
        {"max_source_outage", FormatDuration(o.max_source_outage)},
        {"compare_error_rate", o.compare_error_rate},
        {"error_relative_margin", o.error_relative_margin},
        {"error_absolute_margin", o.error_absolute_margin},
        {"compare_latency", o.compare_latency},
        {"latency_quantile", o.latency_quantile},
        {"latency_relative_margin", o.latency_relative_margin},
        {"latency_absolute_margin", o.latency_absolute_margin},
        {"prior_trials", o.prior_trials}}},
  };
}

absl::StatusOr<AnalysisConfig> ConfigFromJson(const json& j) {
  const std::string w = "policy";
  if (!j.is_object()) return Bad(w, "expected an object");
  AnalysisConfig c;
  const double kHuge = std::numeric_limits<double>::max();
  if (auto s = Field(j, "hold", w, c.hold, Dur); !s.ok()) return s;
  if (auto s = Field(j, "max_false_rollback_rate", w, c.max_false_rollback_rate, Number(0, 1));
      !s.ok()) {
    return s;
  }
  if (auto s = Field(j, "inconclusive", w, c.inconclusive, Action); !s.ok()) return s;
  if (auto it = j.find("rollback"); it != j.end()) {
    const std::string r = w + ".rollback";
    if (!it->is_object()) return Bad(r, "expected an object");
    spec::RollbackPolicy& p = c.rollback;
    if (auto s = Field(*it, "automatic", r, p.automatic, Bool); !s.ok()) return s;
    if (auto s = Field(*it, "health_check_failures", r, p.health_check_failures, Int); !s.ok()) {
      return s;
    }
    if (auto e = it->find("error_rate"); e != it->end()) {
      if (!e->is_object()) return Bad(r + ".error_rate", "expected an object");
      if (auto s = Field(*e, "threshold", r + ".error_rate", p.error_rate.threshold, Number(0, 1));
          !s.ok()) {
        return s;
      }
      if (auto s = Field(*e, "for", r + ".error_rate", p.error_rate.for_, Dur); !s.ok()) return s;
    }
    if (auto e = it->find("p99_latency"); e != it->end()) {
      if (!e->is_object()) return Bad(r + ".p99_latency", "expected an object");
      if (auto s = Field(*e, "threshold", r + ".p99_latency", p.p99_latency.threshold, Dur);
          !s.ok()) {
        return s;
      }
      if (auto s = Field(*e, "for", r + ".p99_latency", p.p99_latency.for_, Dur); !s.ok()) return s;
    }
  }
  if (auto it = j.find("options"); it != j.end()) {
    const std::string ow = w + ".options";
    if (!it->is_object()) return Bad(ow, "expected an object");
    AnalysisOptions& o = c.options;
    absl::Status s;
    s.Update(Field(*it, "rate_window", ow, o.rate_window, Dur));
    s.Update(Field(*it, "estimate_window", ow, o.estimate_window, Dur));
    s.Update(Field(*it, "min_requests", ow, o.min_requests, Unsigned));
    s.Update(Field(*it, "min_window_latency_observations", ow, o.min_window_latency_observations,
                   Unsigned));
    s.Update(Field(*it, "require_latency", ow, o.require_latency, Bool));
    s.Update(Field(*it, "max_source_outage", ow, o.max_source_outage, Dur));
    s.Update(Field(*it, "compare_error_rate", ow, o.compare_error_rate, Bool));
    s.Update(Field(*it, "error_relative_margin", ow, o.error_relative_margin, Number(0, kHuge)));
    s.Update(Field(*it, "error_absolute_margin", ow, o.error_absolute_margin, Number(0, 1)));
    s.Update(Field(*it, "compare_latency", ow, o.compare_latency, Bool));
    s.Update(Field(*it, "latency_quantile", ow, o.latency_quantile, Number(0, 1)));
    s.Update(
        Field(*it, "latency_relative_margin", ow, o.latency_relative_margin, Number(0, kHuge)));
    s.Update(Field(*it, "latency_absolute_margin", ow, o.latency_absolute_margin, Number(0, 1)));
    s.Update(Field(*it, "prior_trials", ow, o.prior_trials, Number(0, kHuge)));
    if (!s.ok()) return s;
  }
  if (absl::Status s = ValidateConfig(c); !s.ok()) return s;
  return c;
}

json ScrapeToJson(const RecordedScrape& s) {
  if (s.error.ok()) {
    return {{"at", FormatTimestamp(s.at)},
            {"canary", SampleToJson(s.observation.canary)},
            {"baseline", SampleToJson(s.observation.baseline)}};
  }
  return {{"at", FormatTimestamp(s.at)},
          {"error",
           {{"code", absl::StatusCodeToString(s.error.code())},
            {"message", std::string(s.error.message())}}}};
}

json ExtensionToJson(const HoldExtension& e) {
  return {{"at", FormatTimestamp(e.at)}, {"extend_hold", FormatDuration(e.by)}};
}

absl::Status AppendRecordFromJson(const json& s, RecordedRun& run, std::string_view where_view) {
  const std::string where(where_view);
  if (!s.is_object() || !s.contains("at")) return Bad(where, "expected an object with \"at\"");
  absl::StatusOr<TimePoint> at = ParseTime(s["at"], where + ".at");
  if (!at.ok()) return at.status();
  if (auto e = s.find("extend_hold"); e != s.end()) {
    absl::StatusOr<Duration> by = ParseDur(*e, where + ".extend_hold");
    if (!by.ok()) return by.status();
    run.extensions.push_back(HoldExtension{*at, *by});
    return absl::OkStatus();
  }
  RecordedScrape r;
  r.at = *at;
  if (auto e = s.find("error"); e != s.end()) {
    if (!e->is_object() || !(*e)["code"].is_string() || !(*e)["message"].is_string()) {
      return Bad(where + ".error", "expected {\"code\": ..., \"message\": ...}");
    }
    absl::StatusOr<absl::StatusCode> code = CodeFromName((*e)["code"].get<std::string>());
    if (!code.ok() || *code == absl::StatusCode::kOk) {
      return Bad(where + ".error.code", "not an error status code");
    }
    r.error = absl::Status(*code, (*e)["message"].get<std::string>());
  } else {
    r.observation.at = r.at;
    for (auto [key, sample] : {std::pair{"canary", &r.observation.canary},
                               std::pair{"baseline", &r.observation.baseline}}) {
      auto g = s.find(key);
      if (g == s.end()) return Bad(where, absl::StrCat("missing \"", key, "\""));
      absl::StatusOr<MetricSample> m = SampleFromJson(*g, absl::StrCat(where, ".", key));
      if (!m.ok()) return m.status();
      *sample = *std::move(m);
    }
  }
  run.samples.push_back(std::move(r));
  return absl::OkStatus();
}

json RunToJson(const RecordedRun& run) {
  // Scrapes and extensions in one stream, in time order; an extension comes
  // after the scrapes at its own time (it was made after that tick).
  json samples = json::array();
  size_t e = 0;
  for (const RecordedScrape& s : run.samples) {
    while (e < run.extensions.size() && run.extensions[e].at < s.at) {
      samples.push_back(ExtensionToJson(run.extensions[e++]));
    }
    samples.push_back(ScrapeToJson(s));
  }
  while (e < run.extensions.size()) samples.push_back(ExtensionToJson(run.extensions[e++]));
  return {{"policy", ConfigToJson(run.policy)},
          {"started_at", FormatTimestamp(run.started_at)},
          {"samples", samples}};
}

absl::StatusOr<RecordedRun> RunFromJson(const json& j) {
  if (!j.is_object()) return Bad("run", "expected an object");
  RecordedRun run;
  if (auto it = j.find("policy"); it != j.end()) {
    absl::StatusOr<AnalysisConfig> c = ConfigFromJson(*it);
    if (!c.ok()) return c.status();
    run.policy = *c;
  }
  auto samples = j.find("samples");
  if (samples == j.end() || !samples->is_array()) return Bad("run", "\"samples\" must be an array");
  for (size_t i = 0; i < samples->size(); ++i) {
    absl::Status s = AppendRecordFromJson((*samples)[i], run, absl::StrCat("samples[", i, "]"));
    if (!s.ok()) return s;
  }
  if (auto it = j.find("started_at"); it != j.end()) {
    absl::StatusOr<TimePoint> t = ParseTime(*it, "started_at");
    if (!t.ok()) return t.status();
    run.started_at = *t;
  } else if (!run.samples.empty()) {
    run.started_at = run.samples.front().at;
  } else {
    return Bad("run", "no \"started_at\" and no samples");
  }
  return run;
}

absl::StatusOr<RecordedRun> ParseRun(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("run: not valid JSON");
  return RunFromJson(j);
}

namespace {

// Replays `run`; calls on_verdict after each scrape.
template <typename OnVerdict>
absl::StatusOr<CanaryAnalysis> Replay(const RecordedRun& run, OnVerdict on_verdict) {
  absl::StatusOr<CanaryAnalysis> analysis = CanaryAnalysis::Create(run.policy, run.started_at);
  if (!analysis.ok()) return analysis.status();
  size_t next_extension = 0;
  // Applies the extensions made before `t`.
  auto extend_before = [&](TimePoint t) -> absl::Status {
    while (next_extension < run.extensions.size() && run.extensions[next_extension].at < t) {
      if (absl::Status s = analysis->ExtendHold(run.extensions[next_extension].by); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("extensions[", next_extension, "]: ", s.message()));
      }
      ++next_extension;
    }
    return absl::OkStatus();
  };
  for (size_t i = 0; i < run.samples.size(); ++i) {
    const RecordedScrape& s = run.samples[i];
    if (i > 0 && s.at < run.samples[i - 1].at) {
      return absl::InvalidArgumentError(
          absl::StrCat("samples[", i, "] is before samples[", i - 1, "]"));
    }
    if (absl::Status st = extend_before(s.at); !st.ok()) return st;
    const Verdict& v =
        s.error.ok() ? analysis->Observe(s.observation) : analysis->ObserveError(s.error, s.at);
    on_verdict(v);
  }
  if (absl::Status st = extend_before(TimePoint::max()); !st.ok()) return st;
  return analysis;
}

}  // namespace

absl::StatusOr<std::vector<Verdict>> Analyze(const RecordedRun& run) {
  std::vector<Verdict> timeline;
  timeline.reserve(run.samples.size());
  absl::StatusOr<CanaryAnalysis> a = Replay(run, [&](const Verdict& v) { timeline.push_back(v); });
  if (!a.ok()) return a.status();
  return timeline;
}

absl::StatusOr<CanaryAnalysis> Restore(const RecordedRun& run) {
  return Replay(run, [](const Verdict&) {});
}

}  // namespace hut::analysis
