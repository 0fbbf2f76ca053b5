#ifndef HUT_ANALYSIS_ANALYZER_H_
#define HUT_ANALYSIS_ANALYZER_H_

// Drives a CanaryAnalysis from a Clock and a MetricsSource, and records every
// scrape so that the run can be exported and replayed (record.h). The caller
// (the canary strategy's reconcile loop) calls Tick() at its scrape interval
// (docs/analysis.md: 1-5 s) and acts on the verdict; at a final Promote or
// Inconclusive it applies ResolveHoldEnd and, for kExtend or the next canary
// step, ExtendHold().
//
// Times are truncated to milliseconds before the engine sees them (the
// recording's resolution), so a replay of the recording gives exactly the
// live verdicts. Not thread-safe: one reconcile worker per rollout.

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/analysis/analysis.h"
#include "src/analysis/metrics_source.h"
#include "src/analysis/record.h"
#include "src/common/clock.h"

namespace hut::analysis {

class Analyzer {
 public:
  // A new analysis whose hold starts now. `source` and `clock` must outlive
  // the Analyzer. InvalidArgument for a bad config.
  static absl::StatusOr<std::unique_ptr<Analyzer>> Start(const AnalysisConfig& config,
                                                         MetricsSource& source, const Clock& clock);
  // Picks up a recorded run (after a controller restart): replays it, then
  // goes on recording into it.
  static absl::StatusOr<std::unique_ptr<Analyzer>> Resume(RecordedRun run, MetricsSource& source,
                                                          const Clock& clock);

  // Scrapes the source at the clock's now and evaluates.
  const Verdict& Tick();
  // CanaryAnalysis::ExtendHold, recorded.
  absl::Status ExtendHold(Duration more);

  const Verdict& verdict() const { return analysis_.verdict(); }
  const CanaryAnalysis& analysis() const { return analysis_; }
  const RecordedRun& recording() const { return run_; }

 private:
  Analyzer(CanaryAnalysis analysis, RecordedRun run, MetricsSource& source, const Clock& clock);
  TimePoint Now() const;

  CanaryAnalysis analysis_;
  RecordedRun run_;
  MetricsSource& source_;
  const Clock& clock_;
};

}  // namespace hut::analysis

#endif  // HUT_ANALYSIS_ANALYZER_H_
