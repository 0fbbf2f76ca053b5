#include "src/analysis/analyzer.h"

#include <utility>

namespace hut::analysis {
namespace {

TimePoint Millis(TimePoint t) {
  return TimePoint(std::chrono::floor<Duration>(t.time_since_epoch()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Analyzer>> Analyzer::Start(const AnalysisConfig& config,
                                                          MetricsSource& source,
                                                          const Clock& clock) {
  RecordedRun run;
  run.policy = config;
  run.started_at = Millis(clock.Now());
  absl::StatusOr<CanaryAnalysis> analysis = CanaryAnalysis::Create(config, run.started_at);
  if (!analysis.ok()) return analysis.status();
  return std::unique_ptr<Analyzer>(
      new Analyzer(*std::move(analysis), std::move(run), source, clock));
}

absl::StatusOr<std::unique_ptr<Analyzer>> Analyzer::Resume(RecordedRun run, MetricsSource& source,
                                                           const Clock& clock) {
  absl::StatusOr<CanaryAnalysis> analysis = Restore(run);
  if (!analysis.ok()) return analysis.status();
  return std::unique_ptr<Analyzer>(
      new Analyzer(*std::move(analysis), std::move(run), source, clock));
}

Analyzer::Analyzer(CanaryAnalysis analysis, RecordedRun run, MetricsSource& source,
                   const Clock& clock)
    : analysis_(std::move(analysis)), run_(std::move(run)), source_(source), clock_(clock) {}

TimePoint Analyzer::Now() const { return Millis(clock_.Now()); }

const Verdict& Analyzer::Tick() {
  const TimePoint now = Now();
  absl::StatusOr<Observation> o = source_.Scrape(now);
  RecordedScrape& r = run_.samples.emplace_back();
  if (o.ok()) {
    r.observation = *std::move(o);
    r.observation.at = Millis(r.observation.at);
    r.at = r.observation.at;
    return analysis_.Observe(r.observation);
  }
  r.at = now;
  r.error = o.status();
  return analysis_.ObserveError(r.error, r.at);
}

absl::Status Analyzer::ExtendHold(Duration more) {
  if (absl::Status s = analysis_.ExtendHold(more); !s.ok()) return s;
  run_.extensions.push_back(HoldExtension{Now(), more});
  return absl::OkStatus();
}

}  // namespace hut::analysis
