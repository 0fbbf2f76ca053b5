#ifndef HUT_ANALYSIS_RECORD_H_
#define HUT_ANALYSIS_RECORD_H_

// A recorded analysis run and its replay: the library part of
// `hut rollout export` and `hut analyze --replay run.json`. The engine's state
// is a function of its config, its start and the sequence of scrapes (each
// with its own timestamp), so replaying a recording reconstructs it exactly.
//
// JSON form (docs/analysis.md has a full example):
//   {"policy": {"hold": "5m", "max_false_rollback_rate": 0.01,
//               "inconclusive": "fail",
//               "rollback": {"automatic": true, "health_check_failures": 3,
//                            "error_rate": {"threshold": 0.05, "for": "2m"},
//                            "p99_latency": {"threshold": "2s", "for": "0s"}},
//               "options": {"rate_window": "30s", ...}},
//    "started_at": "2026-01-01T00:00:00.000Z",
//    "samples": [
//      {"at": "...", "canary": SAMPLE, "baseline": SAMPLE},
//      {"at": "...", "error": {"code": "UNAVAILABLE", "message": "..."}},
//      {"at": "...", "extend_hold": "5m"}]}
//   SAMPLE: {"series": {"replica-1": {"requests": 0, "responses_5xx": 0,
//                                     "connection_errors": 0, "timeouts": 0,
//                                     "latency": {"le": [0.005, ..., "+Inf"],
//                                                 "counts": [...]}}},
//            "health_check_failures": {"replica-1": 0}}
// Durations are hut durations ("30s", "2m"); times RFC 3339. Every policy
// field may be left out (its default applies); "started_at" defaults to the
// first sample's time. Each element of "samples" is one record (a scrape, a
// failed scrape, or a hold extension), in time order: what a store keeps one
// by one (ScrapeToJson, ExtensionToJson, AppendRecordFromJson).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/analysis/analysis.h"
#include "src/analysis/metrics_source.h"

namespace hut::analysis {

// One scrape: an observation, or the error the source answered at `at`.
struct RecordedScrape {
  TimePoint at;
  absl::Status error;       // OK for an observation
  Observation observation;  // meaningful when error is OK; observation.at == at
  bool operator==(const RecordedScrape&) const = default;
};

// A call of CanaryAnalysis::ExtendHold, applied after the scrapes at or
// before `at`.
struct HoldExtension {
  TimePoint at;
  Duration by{};
  bool operator==(const HoldExtension&) const = default;
};

struct RecordedRun {
  AnalysisConfig policy;
  TimePoint started_at;
  std::vector<RecordedScrape> samples;  // in time order
  std::vector<HoldExtension> extensions;
  bool operator==(const RecordedRun&) const = default;
};

nlohmann::json ConfigToJson(const AnalysisConfig& config);
// Fields left out keep their defaults. InvalidArgument naming the bad field.
absl::StatusOr<AnalysisConfig> ConfigFromJson(const nlohmann::json& j);

// One record of "samples".
nlohmann::json ScrapeToJson(const RecordedScrape& scrape);
nlohmann::json ExtensionToJson(const HoldExtension& extension);
// Parses one record and appends it to run.samples or run.extensions.
// InvalidArgument naming `where` and the bad field.
absl::Status AppendRecordFromJson(const nlohmann::json& record, RecordedRun& run,
                                  std::string_view where = "record");

nlohmann::json RunToJson(const RecordedRun& run);
absl::StatusOr<RecordedRun> RunFromJson(const nlohmann::json& j);
// Parses a run from JSON text (a file's contents).
absl::StatusOr<RecordedRun> ParseRun(std::string_view text);

// The verdict after each scrape of `run`, in order, from a fresh analysis.
// The time of each evaluation is the scrape's own timestamp. InvalidArgument
// for a bad policy, samples out of time order, or an extension the analysis
// refuses.
absl::StatusOr<std::vector<Verdict>> Analyze(const RecordedRun& run);

// The analysis after replaying every scrape and extension of `run`: where a
// restarted controller picks up.
absl::StatusOr<CanaryAnalysis> Restore(const RecordedRun& run);

}  // namespace hut::analysis

#endif  // HUT_ANALYSIS_RECORD_H_
