#include "src/cli/analyze.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "src/analysis/analysis.h"
#include "src/analysis/record.h"
#include "src/common/log.h"
#include "src/common/resources.h"
#include "src/common/units.h"
#include "src/spec/load.h"
#include "src/spec/spec.h"
#include "src/spec/yaml_limits.h"

namespace hut::cli {
namespace {

using analysis::AnalysisConfig;
using analysis::Decision;
using analysis::RecordedRun;
using analysis::Rule;
using analysis::Verdict;
using nlohmann::json;
using ojson = nlohmann::ordered_json;  // the output keeps its fields in a readable order

constexpr char kCommand[] = "hut analyze";

// Debian's abseil has its own string_view: std::string_view goes through std::string.
std::string Str(std::string_view s) { return std::string(s); }
std::string Str(const absl::Status& s) { return std::string(s.message()); }

absl::Status Bad(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

// Recorded runs are a few MiB at most; the cap keeps a wrong path (a device,
// a huge log) from filling memory.
constexpr size_t kMaxInputBytes = 64u << 20;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileCapped(path, kMaxInputBytes);
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  return text;
}

absl::StatusOr<json> ParseJson(const std::string& text, const std::string& path) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 3, column 7: ...": drop the tag.
    std::string what = e.what();
    if (size_t end = what.find("] "); what.starts_with("[json.") && end != std::string::npos) {
      what.erase(0, end + 2);
    }
    return Bad(path, absl::StrCat("not valid JSON: ", what));
  }
}

// A plain YAML scalar as the JSON value it reads as (YAML 1.2's core schema,
// roughly): a boolean, null, a number, else a string. Quoted scalars stay strings.
json ScalarToJson(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  json number = json::parse(s, nullptr, /*allow_exceptions=*/false);
  if (number.is_number()) return number;
  return s;
}

json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json j = json::object();
      for (const auto& item : node) j[item.first.Scalar()] = YamlToJson(item.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      json j = json::array();
      for (const auto& item : node) j.push_back(YamlToJson(item));
      return j;
    }
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    default:
      return nullptr;
  }
}

// A policy or spec file's contents as JSON: parsed as JSON when it starts
// like JSON (so errors have JSON's positions), else as YAML.
absl::StatusOr<json> ParseDocument(const std::string& text, const std::string& path) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return Bad(path, "the file is empty");
  if (text[first] == '{' || text[first] == '[') return ParseJson(text, path);
  if (std::optional<spec::YamlLimitError> e = spec::CheckYamlLimits(text)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e->line, ":", e->column, ": ", e->message));
  }
  try {
    return YamlToJson(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": not valid YAML: ", e.msg));
  }
}

bool IsSpec(const json& doc) {
  return doc.is_object() && (doc.contains("services") || doc.contains("environments"));
}

// The first key of `j`, at any depth, that `known` does not have, as
// "policy.options.x"; "" when there is none.
std::string UnknownKey(const json& j, const json& known, const std::string& where) {
  if (!j.is_object() || !known.is_object()) return "";
  for (const auto& [key, value] : j.items()) {
    const std::string path = absl::StrCat(where, ".", key);
    auto k = known.find(key);
    if (k == known.end()) return path;
    if (std::string unknown = UnknownKey(value, *k, path); !unknown.empty()) return unknown;
  }
  return "";
}

// The policy a replay runs with, and where it came from.
struct Policy {
  AnalysisConfig config;
  std::string file;         // the -f file; "" for the run's own policy
  std::string environment;  // the spec's environment; "" for a policy file
  spec::Strategy strategy = spec::Strategy::kCanary;  // the environment's
};

absl::StatusOr<AnalysisConfig> PolicyFromDocument(const json& doc, const std::string& path) {
  const json known = analysis::ConfigToJson(AnalysisConfig());
  if (std::string unknown = UnknownKey(doc, known, "policy"); !unknown.empty()) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : known.items()) keys.push_back(key);
    return Bad(path,
               absl::StrCat(unknown, ": unknown key (a policy file has ", absl::StrJoin(keys, ", "),
                            "; a spec has services and environments)"));
  }
  absl::StatusOr<AnalysisConfig> config = analysis::ConfigFromJson(doc);
  if (!config.ok()) return Bad(path, Str(config.status()));
  return *config;
}

// --env, else production, else the only environment with the canary strategy.
absl::StatusOr<const spec::Environment*> PickEnvironment(const spec::Spec& s,
                                                         const std::string& flag,
                                                         const std::string& path) {
  std::vector<std::string> all;
  std::vector<const spec::Environment*> canary;
  std::vector<std::string> canary_names;
  for (const spec::Environment& e : s.environments) {
    all.push_back(e.name);
    if (e.strategy == spec::Strategy::kCanary) {
      canary.push_back(&e);
      canary_names.push_back(e.name);
    }
  }
  if (!flag.empty()) {
    if (const spec::Environment* e = s.FindEnvironment(flag)) return e;
    return Bad(path, absl::StrCat("no environment \"", flag, "\" (it has ",
                                  absl::StrJoin(all, ", "), ")"));
  }
  if (const spec::Environment* e = s.FindEnvironment("production")) return e;
  if (canary.size() == 1) return canary.front();
  if (canary.empty()) {
    return Bad(path, absl::StrCat("no production environment and none with the canary strategy; "
                                  "pick one with --env (",
                                  absl::StrJoin(all, ", "), ")"));
  }
  return Bad(path, absl::StrCat("no production environment and several with the canary strategy; "
                                "pick one with --env (",
                                absl::StrJoin(canary_names, ", "), ")"));
}

absl::StatusOr<RecordedRun> LoadRun(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<json> doc = ParseJson(*text, path);
  if (!doc.ok()) return doc.status();
  absl::StatusOr<RecordedRun> run = analysis::RunFromJson(*doc);
  if (!run.ok()) return Bad(path, Str(run.status()));
  return run;
}

struct Replayed {
  std::vector<Verdict> verdicts;  // one per scrape of the run
  // The hold extensions applied, and how many of the recorded ones were not:
  // those made after this policy's rollback (only under another policy than
  // the recorded one), which the analysis refuses.
  std::vector<analysis::HoldExtension> extensions;
  size_t ignored_extensions = 0;
};

absl::StatusOr<Replayed> Replay(RecordedRun run) {
  const std::vector<analysis::HoldExtension> all = std::move(run.extensions);
  for (size_t k = 0;; ++k) {
    run.extensions.assign(all.begin(), all.begin() + k);
    absl::StatusOr<std::vector<Verdict>> verdicts = analysis::Analyze(run);
    if (!verdicts.ok()) return verdicts.status();
    if (k == all.size()) return Replayed{*std::move(verdicts), run.extensions, 0};
    // Extension k was made after the scrapes at its time: had this replay
    // rolled back by then? (A rollback is final, so the last such verdict says.)
    bool rolled_back = false;
    for (size_t i = 0; i < run.samples.size() && run.samples[i].at <= all[k].at; ++i) {
      rolled_back = (*verdicts)[i].decision == Decision::kRollback;
    }
    if (rolled_back) return Replayed{*std::move(verdicts), run.extensions, all.size() - k};
  }
}

// ---------------------------------------------------------------- the report

// "1 scrape", "2 scrapes".
std::string Count(size_t n, std::string_view one, std::string_view many) {
  return absl::StrCat(n, " ", Str(n == 1 ? one : many));
}

double Seconds(TimePoint at, TimePoint start) {
  return std::chrono::duration<double>(at - start).count();
}

std::string Since(TimePoint at, TimePoint start) {
  const Duration d = std::chrono::duration_cast<Duration>(at - start);
  if (d < Duration(0)) return "-" + FormatDuration(-d);
  return "+" + FormatDuration(d);
}

// One line of the timeline: a change of the verdict's decision or rule, or a
// hold extension.
struct Change {
  TimePoint at;
  std::string what;                  // "error_rate pending", "rollback", ...
  const Verdict* verdict = nullptr;  // the verdict from this change on; null for an extension
};

std::string DecisionText(const Verdict& v) {
  if (v.rule == Rule::kNone) return std::string(analysis::DecisionName(v.decision));
  return absl::StrCat(Str(analysis::DecisionName(v.decision)), " (",
                      Str(analysis::RuleName(v.rule)), ")");
}

std::vector<Change> Timeline(const RecordedRun& run, const Replayed& r) {
  std::vector<Change> changes;
  size_t next_extension = 0;
  auto extensions_before = [&](TimePoint t) {
    while (next_extension < r.extensions.size() && r.extensions[next_extension].at < t) {
      const analysis::HoldExtension& e = r.extensions[next_extension++];
      changes.push_back({e.at, absl::StrCat("hold extended by ", FormatDuration(e.by)), nullptr});
    }
  };
  Decision decision = Decision::kContinue;
  Rule rule = Rule::kNone;
  for (size_t i = 0; i < r.verdicts.size(); ++i) {
    const Verdict& v = r.verdicts[i];
    const TimePoint at = run.samples[i].at;
    extensions_before(at);
    if (i == 0) {
      changes.push_back(
          {at, run.samples[i].error.ok() ? "first scrape (the reference)" : "first scrape failed",
           nullptr});
    }
    if (v.decision == decision && v.rule == rule) continue;
    std::string what;
    if (v.decision != Decision::kContinue) {
      what = DecisionText(v);
    } else if (v.rule != Rule::kNone) {
      what = absl::StrCat(Str(analysis::RuleName(v.rule)), " pending");
    } else if (decision != Decision::kContinue) {
      what = "analysing again";
    } else {
      what = absl::StrCat(Str(analysis::RuleName(rule)), " cleared");
    }
    changes.push_back({v.at, std::move(what), &v});
    decision = v.decision;
    rule = v.rule;
  }
  extensions_before(TimePoint::max());
  return changes;
}

// A rule pending (above its threshold, its `for` not over) or an outage,
// from the first verdict that showed it to the first that did not.
struct Pending {
  Rule rule;
  TimePoint from;
  std::optional<TimePoint> until;  // nullopt: still pending at the end of the recording
};

std::vector<Pending> PendingRules(const std::vector<Verdict>& verdicts) {
  std::vector<Pending> out;
  for (const Verdict& v : verdicts) {
    const bool pending = v.decision == Decision::kContinue && v.rule != Rule::kNone;
    if (!out.empty() && !out.back().until && (!pending || v.rule != out.back().rule)) {
      out.back().until = v.at;
    }
    if (pending && (out.empty() || out.back().until)) out.push_back({v.rule, v.at, std::nullopt});
  }
  return out;
}

std::string PolicySummary(const AnalysisConfig& c) {
  const spec::RollbackPolicy& r = c.rollback;
  std::vector<std::string> compare;
  if (c.options.compare_error_rate) compare.push_back("error rate");
  if (c.options.compare_latency) compare.push_back("latency");
  return absl::StrCat(
      "hold ", FormatDuration(c.hold), "; roll back on ", r.health_check_failures,
      " failed health checks, error rate > ", FormatPercent(r.error_rate.threshold), " for ",
      FormatDuration(r.error_rate.for_), ", P99 > ", FormatDuration(r.p99_latency.threshold),
      " for ", FormatDuration(r.p99_latency.for_), ", worse than the baseline: ",
      compare.empty() ? "off"
                      : absl::StrCat(absl::StrJoin(compare, " and "), " (max false rollback rate ",
                                     FormatPercent(c.max_false_rollback_rate), ")"),
      "; min ", c.options.min_requests,
      " requests, inconclusive: ", Str(spec::Name(c.inconclusive)),
      r.automatic ? "" : "; automatic rollback off");
}

std::string PolicySource(const Policy& p) {
  if (p.file.empty()) return "recorded in the run";
  if (p.environment.empty()) return p.file;
  return absl::StrCat(p.file, ", environment ", p.environment, " (", Str(spec::Name(p.strategy)),
                      " strategy)");
}

// What the rollout does with a final verdict, beyond its name.
std::string Consequence(const Verdict& v, const AnalysisConfig& c) {
  if (v.decision == Decision::kRollback && !c.rollback.automatic) {
    return "rollback.automatic is off: the rollout pauses instead";
  }
  if (v.decision != Decision::kInconclusive) return "";
  switch (c.inconclusive) {
    case spec::InconclusiveAction::kFail:
      return "inconclusive: fail rolls the rollout back";
    case spec::InconclusiveAction::kPause:
      return "inconclusive: pause holds the rollout for a human";
    case spec::InconclusiveAction::kExtend:
      return "inconclusive: extend lengthens the hold";
  }
  return "";
}

ojson TimeJson(TimePoint at, TimePoint start) {
  return {{"at", FormatTimestamp(at)}, {"seconds", Seconds(at, start)}};
}

void PrintJson(const std::string& run_path, const RecordedRun& run, const Policy& policy,
               const Replayed& r, const std::vector<Change>& timeline,
               const std::vector<Pending>& pending, std::ostream& out) {
  const TimePoint start = run.started_at;
  const Verdict& last = r.verdicts.back();
  ojson policy_json = {{"source", policy.file.empty()          ? "run"
                                  : policy.environment.empty() ? "policy file"
                                                               : "spec"}};
  if (!policy.file.empty()) policy_json["file"] = policy.file;
  if (!policy.environment.empty()) policy_json["environment"] = policy.environment;
  policy_json["config"] = analysis::ConfigToJson(policy.config);

  ojson first_decision = nullptr;
  for (const Verdict& v : r.verdicts) {
    if (v.decision == Decision::kContinue) continue;
    first_decision = {{"decision", analysis::DecisionName(v.decision)},
                      {"rule", analysis::RuleName(v.rule)},
                      {"at", FormatTimestamp(v.at)},
                      {"seconds", Seconds(v.at, start)}};
    break;
  }
  ojson changes = ojson::array();
  for (const Change& c : timeline) {
    ojson j = TimeJson(c.at, start);
    j["event"] = c.what;
    if (c.verdict != nullptr) {
      j["decision"] = analysis::DecisionName(c.verdict->decision);
      j["rule"] = analysis::RuleName(c.verdict->rule);
      j["message"] = c.verdict->Message();
    }
    changes.push_back(std::move(j));
  }
  ojson pending_json = ojson::array();
  for (const Pending& p : pending) {
    pending_json.push_back({{"rule", analysis::RuleName(p.rule)},
                            {"from", TimeJson(p.from, start)},
                            {"until", p.until ? TimeJson(*p.until, start) : ojson(nullptr)}});
  }
  ojson j = {
      {"run", run_path},
      {"started_at", FormatTimestamp(start)},
      {"scrapes", run.samples.size()},
      {"hold_extensions", run.extensions.size()},
      {"policy", policy_json},
      {"decision", analysis::DecisionName(last.decision)},
      {"rule", analysis::RuleName(last.rule)},
      {"final", last.final},
      {"at", FormatTimestamp(last.at)},
      {"seconds", Seconds(last.at, start)},
      {"message", last.Message()},
      {"first_decision", first_decision},
      {"pending_rules", pending_json},
      {"timeline", changes},
      {"ignored_extensions", r.ignored_extensions},
      {"verdict", last.Json()},
  };
  out << j.dump(2) << "\n";
}

void PrintHuman(const std::string& run_path, const RecordedRun& run, const Policy& policy,
                const Replayed& r, const std::vector<Change>& timeline,
                const std::vector<Pending>& pending, std::ostream& out) {
  const TimePoint start = run.started_at;
  const Verdict& last = r.verdicts.back();
  size_t failed = 0;
  for (const analysis::RecordedScrape& s : run.samples) failed += s.error.ok() ? 0 : 1;

  out << "Run:       " << run_path << ": " << Count(run.samples.size(), "scrape", "scrapes") << " ("
      << failed << " failed), " << Count(run.extensions.size(), "hold extension", "hold extensions")
      << ", from " << FormatTimestamp(start) << " to " << Since(run.samples.back().at, start)
      << "\n";
  out << "Policy:    " << PolicySource(policy) << ": " << PolicySummary(policy.config) << "\n";
  if (r.ignored_extensions > 0) {
    out << "Note:      "
        << Count(r.ignored_extensions, "recorded hold extension", "recorded hold extensions")
        << (r.ignored_extensions == 1 ? " was not applied: it comes"
                                      : " were not applied: they come")
        << " after this policy's rollback\n";
  }
  if (last.decision == Decision::kContinue) {
    out << "Decision:  none: the recording ends at " << Since(last.at, start)
        << " with the analysis still running"
        << (last.rule == Rule::kNone
                ? std::string()
                : absl::StrCat(" (", Str(analysis::RuleName(last.rule)), " pending)"))
        << "\n";
  } else {
    out << "Decision:  " << DecisionText(last) << " at " << Since(last.at, start) << " ("
        << FormatTimestamp(last.at) << ")\n";
    if (std::string then = Consequence(last, policy.config); !then.empty()) {
      out << "           " << then << "\n";
    }
  }
  out << "Why:       " << last.Message() << "\n";
  out << "Pending:   ";
  if (pending.empty()) out << "none";
  for (size_t i = 0; i < pending.size(); ++i) {
    const Pending& p = pending[i];
    out << (i > 0 ? "; " : "") << analysis::RuleName(p.rule) << " " << Since(p.from, start)
        << " to " << (p.until ? Since(*p.until, start) : std::string("the end"));
  }
  out << "\nTimeline:\n";
  for (const Change& c : timeline) {
    std::string when = Since(c.at, start);
    when.resize(std::max<size_t>(when.size(), 8), ' ');
    out << "  " << when;
    if (c.verdict != nullptr && c.verdict->decision != Decision::kContinue) {
      // A decision's message starts with the decision; the rule is not in it.
      out << c.verdict->Message();
      if (c.verdict->rule != Rule::kNone) out << " [" << analysis::RuleName(c.verdict->rule) << "]";
    } else if (c.verdict != nullptr && c.verdict->rule != Rule::kNone) {
      out << c.what << ": " << c.verdict->Message();
    } else {
      out << c.what;  // the first scrape, a rule that cleared, an extension
    }
    out << "\n";
  }
}

}  // namespace

int RunAnalyze(const AnalyzeOptions& options, const Io& io) {
  auto fail = [&io](const absl::Status& s) {
    io.err << kCommand << ": " << s.message() << "\n";
    return kExitFailure;
  };
  if (options.replay.empty()) {
    io.err << kCommand << ": --replay FILE is required\n";
    return kExitUsage;
  }
  if (!options.environment.empty() && options.policy_file.empty()) {
    io.err << kCommand << ": --env picks the environment of a spec given with -f\n";
    return kExitUsage;
  }

  absl::StatusOr<RecordedRun> run = LoadRun(options.replay);
  if (!run.ok()) return fail(run.status());

  Policy policy{run->policy, "", "", spec::Strategy::kCanary};
  if (!options.policy_file.empty()) {
    const std::string& path = options.policy_file;
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) return fail(text.status());
    absl::StatusOr<json> doc = ParseDocument(*text, path);
    if (!doc.ok()) return fail(doc.status());
    policy.file = path;
    if (IsSpec(*doc)) {
      spec::LoadResult loaded = spec::ParseSpec(*text, path);
      if (!loaded.ok()) {
        for (const spec::Problem& p : loaded.problems) io.err << p.ToString() << "\n";
        io.err << kCommand << ": " << path << ": the spec has " << loaded.problems.size()
               << (loaded.problems.size() == 1 ? " problem" : " problems") << "\n";
        return kExitFailure;
      }
      absl::StatusOr<const spec::Environment*> env =
          PickEnvironment(*loaded.spec, options.environment, path);
      if (!env.ok()) return fail(env.status());
      const spec::CanaryPolicy& canary = (*env)->policies.canary;
      policy.config = analysis::MakeConfig(canary, (*env)->policies.rollback,
                                           canary.EffectiveSteps().front().hold);
      policy.environment = (*env)->name;
      policy.strategy = (*env)->strategy;
    } else {
      if (!options.environment.empty()) {
        io.err << kCommand << ": --env picks an environment of a spec, and " << path
               << " is a policy file, not a spec\n";
        return kExitUsage;
      }
      absl::StatusOr<AnalysisConfig> config = PolicyFromDocument(*doc, path);
      if (!config.ok()) return fail(config.status());
      policy.config = *config;
    }
    run->policy = policy.config;
  }

  absl::StatusOr<Replayed> replayed = Replay(*run);
  if (!replayed.ok()) return fail(Bad(options.replay, Str(replayed.status())));
  if (replayed->verdicts.empty()) {
    return fail(Bad(options.replay, "the run has no scrapes to replay"));
  }
  const std::vector<Change> timeline = Timeline(*run, *replayed);
  const std::vector<Pending> pending = PendingRules(replayed->verdicts);
  if (options.json) {
    PrintJson(options.replay, *run, policy, *replayed, timeline, pending, io.out);
  } else {
    PrintHuman(options.replay, *run, policy, *replayed, timeline, pending, io.out);
  }
  return kExitOk;
}

}  // namespace hut::cli
