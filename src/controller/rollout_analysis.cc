#include "src/controller/rollout_analysis.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/common/status.h"

namespace hut::controller {
namespace {

using rollout::CanaryPhase;

// Where no platform gives metrics, every scrape fails, so the analysis rolls
// back after its outage limit instead of promoting blind.
class NoMetricsSource final : public analysis::MetricsSource {
 public:
  absl::StatusOr<analysis::Observation> Scrape(TimePoint) override {
    return absl::UnavailableError("this runtime has no metrics source for canary analysis");
  }
};

rollout::Verdict ToStrategyVerdict(analysis::Decision d) {
  switch (d) {
    case analysis::Decision::kPromote:
      return rollout::Verdict::kPromote;
    case analysis::Decision::kRollback:
      return rollout::Verdict::kRollback;
    case analysis::Decision::kInconclusive:
      return rollout::Verdict::kInconclusive;
    case analysis::Decision::kContinue:
      break;
  }
  return rollout::Verdict::kContinue;
}

}  // namespace

std::string_view AnalysisKindName(AnalysisKind kind) {
  return kind == AnalysisKind::kCanary ? "canary" : "window";
}

absl::StatusOr<std::optional<analysis::RecordedRun>> LoadRecordedRun(store::Store& store,
                                                                     int64_t rollout_id,
                                                                     int attempt,
                                                                     AnalysisKind kind) {
  HUT_ASSIGN_OR_RETURN(std::vector<store::AnalysisSample> records,
                       store.AnalysisSamples(rollout_id));
  const std::string kind_name(AnalysisKindName(kind));
  auto of_kind = [&](const nlohmann::json& r) {
    if (!r.is_object()) return false;
    auto kind = r.find("kind");
    auto attempt = r.find("attempt");
    return kind != r.end() && kind->is_string() && *kind == kind_name && attempt != r.end() &&
           attempt->is_number_integer();
  };
  if (attempt == 0) {
    for (const store::AnalysisSample& s : records) {
      if (of_kind(s.data)) attempt = std::max(attempt, s.data["attempt"].get<int>());
    }
    if (attempt == 0) return std::nullopt;
  }
  // Reassembled in record.h's JSON form and parsed by it.
  nlohmann::json run;
  nlohmann::json samples = nlohmann::json::array();
  for (const store::AnalysisSample& s : records) {
    if (!of_kind(s.data) || s.data["attempt"].get<int>() != attempt) continue;
    if (auto start = s.data.find("start"); start != s.data.end()) {
      run = *start;
    } else if (auto record = s.data.find("record"); record != s.data.end()) {
      samples.push_back(*record);
    }
  }
  if (run.is_null()) {
    if (samples.empty()) return std::nullopt;
    return absl::DataLossError(absl::StrCat("rollout ", rollout_id, " attempt ", attempt,
                                            ": analysis samples without their start record"));
  }
  run["samples"] = std::move(samples);
  absl::StatusOr<analysis::RecordedRun> parsed = analysis::RunFromJson(run);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat("rollout ", rollout_id, " attempt ", attempt,
                                            ": recorded analysis unreadable: ",
                                            parsed.status().message()));
  }
  return *std::move(parsed);
}

RolloutAnalysis::RolloutAnalysis(store::Store& store, const Clock& clock, Logger logger,
                                 RolloutAnalysisOptions options)
    : store_(store), clock_(clock), logger_(std::move(logger)), options_(std::move(options)) {}

AnalysisStep RolloutAnalysis::Step(const store::Rollout& rollout,
                                   const rollout::CanaryStatus& status,
                                   const rollout::CanaryConfig& config,
                                   const spec::RollbackPolicy& rollback) {
  AnalysisStep out;
  const std::vector<spec::CanaryStep> steps = config.policy.EffectiveSteps();
  const spec::CanaryStep& step = steps[std::clamp<size_t>(status.step, 0, steps.size() - 1)];
  std::optional<AnalysisKind> kind;
  bool may_start = false;
  Duration hold{};
  TimePoint hold_end;  // the strategy's; epoch: none to align with
  switch (status.phase) {
    case CanaryPhase::kAnalysing:
      kind = AnalysisKind::kCanary;
      may_start = true;
      hold = step.hold;
      hold_end = status.hold_started_at + step.hold;
      break;
    case CanaryPhase::kStarting:  // the next step's replicas start: keep watching
      if (status.step > 0) kind = AnalysisKind::kCanary;
      break;
    case CanaryPhase::kPaused:
    case CanaryPhase::kPromoting:
      kind = AnalysisKind::kCanary;
      break;
    case CanaryPhase::kSucceeded:
      if (!status.previous_released && config.policy.rollback_window > Duration(0)) {
        kind = AnalysisKind::kWindow;
        may_start = true;
        hold = config.policy.rollback_window;
        hold_end = status.promoted_at + config.policy.rollback_window;
      }
      break;
    default:
      break;
  }
  if (!kind || status.previous_revision == 0) {  // a first deployment has no baseline
    run_.reset();
    return out;
  }
  if (absl::Status s = Ensure(rollout, status, *kind, config, rollback, hold, may_start); !s.ok()) {
    if (std::string error(s.message()); error != last_error_) {
      logger_.Error("canary analysis", {{"rollout_id", rollout.id}, {"error", error}});
      last_error_ = error;
    }
    return out;
  }
  last_error_.clear();
  if (!run_) return out;
  out.kind = *kind;
  analysis::Analyzer& analyzer = *run_->analyzer;

  // A new step's hold, or an extended one, runs on the same evidence.
  if (const TimePoint ends = analyzer.analysis().hold_ends_at(); hold_end > ends) {
    if (analyzer.ExtendHold(std::chrono::ceil<Duration>(hold_end - ends)).ok()) {
      const analysis::HoldExtension& e = analyzer.recording().extensions.back();
      Record(analysis::ExtensionToJson(e), e.at);
    }
  }
  const TimePoint now = clock_.Now();
  // A paused canary stays watched while a human decides: a final promote or
  // inconclusive verdict is reopened, so the rollback rules keep running.
  if (status.phase == CanaryPhase::kPaused && analyzer.verdict().final &&
      analyzer.verdict().decision != analysis::Decision::kRollback) {
    const Duration more =
        std::chrono::ceil<Duration>(now + step.hold - analyzer.analysis().hold_ends_at());
    if (more > Duration(0) && analyzer.ExtendHold(more).ok()) {
      const analysis::HoldExtension& e = analyzer.recording().extensions.back();
      Record(analysis::ExtensionToJson(e), e.at);
    }
  }
  if (analyzer.recording().samples.empty() || now - run_->last_scrape >= options_.scrape_interval) {
    analyzer.Tick();
    run_->last_scrape = now;
    const analysis::RecordedScrape& scrape = analyzer.recording().samples.back();
    Record(analysis::ScrapeToJson(scrape), scrape.at);
    out.scraped = true;
  }
  const analysis::Verdict& verdict = analyzer.verdict();
  out.verdict = &verdict;
  if (verdict.decision != run_->announced) {
    out.decided = verdict.decision != analysis::Decision::kContinue;
    run_->announced = verdict.decision;
  }
  // The strategy takes a promote or inconclusive only while it analyses;
  // in the rollback window only a rollback counts.
  const bool rolls_back = verdict.decision == analysis::Decision::kRollback;
  const bool counts = *kind == AnalysisKind::kCanary
                          ? status.phase == CanaryPhase::kAnalysing || rolls_back
                          : rolls_back;
  if (counts) out.analysis = {ToStrategyVerdict(verdict.decision), verdict.Message()};
  return out;
}

absl::Status RolloutAnalysis::Ensure(const store::Rollout& rollout,
                                     const rollout::CanaryStatus& status, AnalysisKind kind,
                                     const rollout::CanaryConfig& config,
                                     const spec::RollbackPolicy& rollback, Duration hold,
                                     bool may_start) {
  if (run_ && run_->rollout_id == rollout.id && run_->attempt == status.attempt &&
      run_->kind == kind) {
    return absl::OkStatus();
  }
  run_.reset();
  Run run;
  run.rollout_id = rollout.id;
  run.attempt = status.attempt;
  run.kind = kind;
  run.source = options_.metrics ? options_.metrics(rollout.service, status.target_revision,
                                                   status.previous_revision)
                                : nullptr;
  if (!run.source) run.source = std::make_unique<NoMetricsSource>();
  HUT_ASSIGN_OR_RETURN(std::optional<analysis::RecordedRun> recorded,
                       LoadRecordedRun(store_, rollout.id, status.attempt, kind));
  if (recorded) {  // a restarted controller picks up where it was
    const TimePoint last = recorded->samples.empty() ? TimePoint{} : recorded->samples.back().at;
    HUT_ASSIGN_OR_RETURN(run.analyzer,
                         analysis::Analyzer::Resume(*std::move(recorded), *run.source, clock_));
    run.last_scrape = last;
    run.announced = run.analyzer->verdict().decision;
  } else if (may_start) {
    analysis::AnalysisConfig c = analysis::MakeConfig(config.policy, rollback, hold);
    c.options = options_.analysis;
    if (kind == AnalysisKind::kWindow) {
      // No baseline traffic after promotion: only the ADR's own triggers
      // watch the window (docs/analysis.md, "For the integrator").
      c.options.compare_error_rate = false;
      c.options.compare_latency = false;
      c.options.min_requests = 0;
      c.options.require_latency = false;
    }
    HUT_ASSIGN_OR_RETURN(run.analyzer, analysis::Analyzer::Start(c, *run.source, clock_));
    run_ = std::move(run);
    Record({{"start",
           {{"policy", analysis::ConfigToJson(c)},
            {"started_at", FormatTimestamp(run_->analyzer->recording().started_at)}}}},
         run_->analyzer->recording().started_at);
    return absl::OkStatus();
  } else {
    return absl::OkStatus();
  }
  run_ = std::move(run);
  return absl::OkStatus();
}

void RolloutAnalysis::Record(const nlohmann::json& record, TimePoint at) {
  nlohmann::json stored = record.contains("start") ? record : nlohmann::json{{"record", record}};
  stored["attempt"] = run_->attempt;
  stored["kind"] = std::string(AnalysisKindName(run_->kind));
  pending_.push_back({at, std::move(stored)});
}

void RolloutAnalysis::SaveFailed() {
  pending_.clear();
  run_.reset();
}

}  // namespace hut::controller
