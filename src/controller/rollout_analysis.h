#ifndef HUT_CONTROLLER_ROLLOUT_ANALYSIS_H_
#define HUT_CONTROLLER_ROLLOUT_ANALYSIS_H_

// Runs the canary analysis of a service's rollouts for its controller: one
// Analyzer per rollout attempt while the canary is analysed, and a second one
// watching the new revision in the rollback window after promotion. It
// starts, resumes (after a restart, from the store), aligns each hold with
// the strategy's and scrapes at its own interval; every scrape and hold
// extension is saved in the store with the rollout, so a run can be
// exported and replayed.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/analysis/analyzer.h"
#include "src/analysis/record.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/rollout/canary.h"
#include "src/store/store.h"

namespace hut::controller {

// The metrics of one canary: `canary_revision` against `baseline_revision`
// of `service`. Platform-specific (local: HAProxy and the replicas' /metrics).
using MetricsSourceFactory = std::function<std::unique_ptr<analysis::MetricsSource>(
    const std::string& service, int canary_revision, int baseline_revision)>;

// The canary's analysis, or the watch of the rollback window after promotion.
enum class AnalysisKind { kCanary, kWindow };
std::string_view AnalysisKindName(AnalysisKind kind);  // "canary", "window"

// A rollout's recorded run of `kind` for `attempt` (0: the newest attempt
// recorded), as `hut rollout export` writes it; nullopt when none was
// recorded. DataLoss for records that do not parse.
absl::StatusOr<std::optional<analysis::RecordedRun>> LoadRecordedRun(store::Store& store,
                                                                     int64_t rollout_id,
                                                                     int attempt,
                                                                     AnalysisKind kind);

struct RolloutAnalysisOptions {
  MetricsSourceFactory metrics;  // none: every scrape fails ("no metrics source")
  Duration scrape_interval = std::chrono::seconds(1);
  analysis::AnalysisOptions analysis;
};

// What one step of the analysis gives the controller.
struct AnalysisStep {
  rollout::Analysis analysis;  // for CanaryObservation::analysis
  // The newest verdict (null before the first scrape); its Json() is the
  // live view `hut rollout status` shows.
  const analysis::Verdict* verdict = nullptr;
  AnalysisKind kind = AnalysisKind::kCanary;
  bool scraped = false;  // a scrape happened on this step
  // The verdict became promote, rollback or inconclusive on this step: an
  // event to record.
  bool decided = false;
};

// Not thread-safe: the service's reconcile worker owns it.
class RolloutAnalysis {
 public:
  RolloutAnalysis(store::Store& store, const Clock& clock, Logger logger,
                  RolloutAnalysisOptions options);

  // One reconcile step for `rollout` with its saved canary `status`, under
  // the environment's canary and rollback policies.
  AnalysisStep Step(const store::Rollout& rollout, const rollout::CanaryStatus& status,
                    const rollout::CanaryConfig& config, const spec::RollbackPolicy& rollback);

  // What the steps since the last save recorded (start, scrapes, hold
  // extensions), for the controller to save with the rollout in one
  // transaction (Store::UpdateRolloutWithSamples); then Saved(). When the
  // save fails, SaveFailed() forgets the run, which the next step resumes
  // from the store, so the store and the live analysis never differ.
  const std::vector<store::AnalysisSample>& pending() const { return pending_; }
  void Saved() { pending_.clear(); }
  void SaveFailed();

 private:
  struct Run {
    int64_t rollout_id = 0;
    int attempt = 0;
    AnalysisKind kind = AnalysisKind::kCanary;
    std::unique_ptr<analysis::MetricsSource> source;
    std::unique_ptr<analysis::Analyzer> analyzer;
    TimePoint last_scrape;
    analysis::Decision announced = analysis::Decision::kContinue;
  };

  // The run for (rollout, attempt, kind): the current one, one resumed from
  // the store, or (when `may_start`) a new one whose hold is `hold`.
  absl::Status Ensure(const store::Rollout& rollout, const rollout::CanaryStatus& status,
                      AnalysisKind kind, const rollout::CanaryConfig& config,
                      const spec::RollbackPolicy& rollback, Duration hold, bool may_start);
  // Adds a record of the current run to pending_.
  void Record(const nlohmann::json& record, TimePoint at);

  store::Store& store_;
  const Clock& clock_;
  Logger logger_;
  RolloutAnalysisOptions options_;
  std::optional<Run> run_;
  std::vector<store::AnalysisSample> pending_;
  std::string last_error_;  // logged once until it changes
};

}  // namespace hut::controller

#endif  // HUT_CONTROLLER_ROLLOUT_ANALYSIS_H_
