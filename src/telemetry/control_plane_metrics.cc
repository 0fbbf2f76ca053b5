#include "src/telemetry/control_plane_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/match.h"

namespace hut::telemetry {
namespace {

using prometheus::Histogram;

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// Calls and ticks: 100 µs to 10 s.
const Histogram::BucketBoundaries& CallBuckets() {
  static const Histogram::BucketBoundaries b = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                0.005,  0.01,    0.025,  0.05,  0.1,
                                                0.25,   0.5,     1,      2.5,   10};
  return b;
}

// Rollouts: a second to hours (a canary's analysis is minutes).
const Histogram::BucketBoundaries& RolloutBuckets() {
  static const Histogram::BucketBoundaries b = {1,   5,   10,  30,   60,   120,
                                                300, 600, 900, 1800, 3600, 7200};
  return b;
}

// Rollbacks: the point is that they are fast.
const Histogram::BucketBoundaries& RollbackBuckets() {
  static const Histogram::BucketBoundaries b = {0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return b;
}

constexpr store::RolloutPhase kPhases[] = {
    store::RolloutPhase::kProgressing, store::RolloutPhase::kStarting,
    store::RolloutPhase::kAnalysing,   store::RolloutPhase::kPaused,
    store::RolloutPhase::kPromoting,   store::RolloutPhase::kSucceeded,
    store::RolloutPhase::kRollingBack, store::RolloutPhase::kRolledBack,
    store::RolloutPhase::kFailed};

}  // namespace

ControlPlaneMetrics::ControlPlaneMetrics(const std::string& environment,
                                         const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()), environment_(environment) {
  const prometheus::Labels env = {{"environment", environment}};
  rollouts_ = &prometheus::BuildCounter()
                   .Name("hut_rollouts_total")
                   .Help("Rollouts that finished, by service, strategy and result.")
                   .Labels(env)
                   .Register(*registry_);
  rollout_duration_ = &prometheus::BuildHistogram()
                           .Name("hut_rollout_duration_seconds")
                           .Help("Time from a rollout's start to its end.")
                           .Labels(env)
                           .Register(*registry_);
  rollback_ = &prometheus::BuildHistogram()
                   .Name("hut_rollback_seconds")
                   .Help("Time from a rollback's trigger (a rollback verdict or rolling-back) "
                         "to rolled back.")
                   .Labels(env)
                   .Register(*registry_);
  phase_ = &prometheus::BuildGauge()
                .Name("hut_rollout_phase")
                .Help("1 for the phase of the service's latest rollout, 0 for the others.")
                .Labels(env)
                .Register(*registry_);
  verdicts_ = &prometheus::BuildCounter()
                   .Name("hut_analysis_verdicts_total")
                   .Help("Canary analysis verdicts, by service and verdict.")
                   .Labels(env)
                   .Register(*registry_);
  events_ = &prometheus::BuildCounter()
                 .Name("hut_events_total")
                 .Help("Events recorded in the audit log, by service and type.")
                 .Labels(env)
                 .Register(*registry_);
  tick_ = &prometheus::BuildHistogram()
               .Name("hut_reconcile_tick_seconds")
               .Help("Time one reconcile tick of a service took.")
               .Labels(env)
               .Register(*registry_);
  tick_errors_ = &prometheus::BuildCounter()
                      .Name("hut_reconcile_errors_total")
                      .Help("Reconcile ticks that failed.")
                      .Labels(env)
                      .Register(*registry_);
  store_calls_ = &prometheus::BuildHistogram()
                      .Name("hut_store_call_seconds")
                      .Help("Time of calls to hut's store, by operation.")
                      .Labels(env)
                      .Register(*registry_);
  store_errors_ = &prometheus::BuildCounter()
                       .Name("hut_store_errors_total")
                       .Help("Calls to hut's store that failed, by operation.")
                       .Labels(env)
                       .Register(*registry_);
  runtime_calls_ = &prometheus::BuildHistogram()
                        .Name("hut_runtime_call_seconds")
                        .Help("Time of calls to the runtime (observe, apply).")
                        .Labels(env)
                        .Register(*registry_);
  runtime_errors_ = &prometheus::BuildCounter()
                         .Name("hut_runtime_errors_total")
                         .Help("Calls to the runtime that failed (observe, apply).")
                         .Labels(env)
                         .Register(*registry_);
  prometheus::BuildGauge()
      .Name("hut_build_info")
      .Help("Always 1; the label says which hut runs.")
      .Labels(env)
      .Register(*registry_)
      .Add({{"version", version}})
      .Set(1);
}

ControlPlaneMetrics::~ControlPlaneMetrics() = default;

void ControlPlaneMetrics::ObserveRollout(const store::Rollout& rollout, bool written) {
  for (store::RolloutPhase p : kPhases) {
    phase_->Add({{"service", rollout.service}, {"phase", std::string(store::PhaseName(p))}})
        .Set(p == rollout.phase ? 1 : 0);
  }
  // Save() sets finished_at to the write's updated_at; a rollout recorded
  // already finished (out of band) is created with it.
  const bool finished_now =
      written && rollout.finished_at &&
      (*rollout.finished_at == rollout.updated_at || *rollout.finished_at == rollout.created_at);
  if (!finished_now) return;
  const std::string strategy(spec::Name(rollout.strategy));
  const std::string result(store::PhaseName(rollout.phase));
  rollouts_->Add({{"service", rollout.service}, {"strategy", strategy}, {"result", result}})
      .Increment();
  rollout_duration_
      ->Add({{"service", rollout.service}, {"strategy", strategy}, {"result", result}},
            RolloutBuckets())
      .Observe(Seconds(*rollout.finished_at - rollout.created_at));
  absl::MutexLock lock(&mu_);
  auto since = rolling_back_since_.find(rollout.id);
  if (since == rolling_back_since_.end()) return;
  if (rollout.phase == store::RolloutPhase::kRolledBack) {
    rollback_->Add({{"service", rollout.service}}, RollbackBuckets())
        .Observe(Seconds(*rollout.finished_at - since->second));
  }
  rolling_back_since_.erase(since);
}

void ControlPlaneMetrics::ObserveEvent(const store::Event& event) {
  events_->Add({{"service", event.service}, {"type", event.type}}).Increment();
  if (absl::StartsWith(event.type, "analysis.")) {
    verdicts_->Add({{"service", event.service}, {"verdict", event.type.substr(9)}}).Increment();
  }
  // The trigger: the verdict, or the rollout entering rolling-back, whichever comes first.
  if ((event.type == "analysis.rollback" || event.type == "rollout.rolling-back") &&
      event.rollout_id != 0) {
    absl::MutexLock lock(&mu_);
    rolling_back_since_.emplace(event.rollout_id, event.at);
  }
}

namespace {

// A timed call into `times`, and into `errors` when it failed; the error
// series exists (at 0) from the first call.
void ObserveCall(prometheus::Family<prometheus::Histogram>& times,
                 prometheus::Family<prometheus::Counter>& errors, const prometheus::Labels& labels,
                 std::chrono::nanoseconds took, bool ok) {
  times.Add(labels, CallBuckets()).Observe(Seconds(took));
  prometheus::Counter& failed = errors.Add(labels);
  if (!ok) failed.Increment();
}

}  // namespace

void ControlPlaneMetrics::ObserveTick(const std::string& service, std::chrono::nanoseconds took,
                                      bool ok) {
  ObserveCall(*tick_, *tick_errors_, {{"service", service}}, took, ok);
}

void ControlPlaneMetrics::ObserveStoreCall(std::string_view operation,
                                           std::chrono::nanoseconds took, bool ok) {
  ObserveCall(*store_calls_, *store_errors_, {{"operation", std::string(operation)}}, took, ok);
}

void ControlPlaneMetrics::ObserveRuntimeCall(std::string_view operation,
                                             std::chrono::nanoseconds took, bool ok) {
  ObserveCall(*runtime_calls_, *runtime_errors_, {{"operation", std::string(operation)}}, took,
              ok);
}

void ControlPlaneMetrics::ReadFamiliesWith(FamilyReader read) {
  external_.push_back(std::move(read));
}

void ControlPlaneMetrics::ReadCountersWith(std::string name, std::string help, std::string label,
                                           CounterReader read) {
  ReadFamiliesWith([name = std::move(name), help = std::move(help), label = std::move(label),
                    read = std::move(read)] {
    SeriesFamily f{.name = name, .help = help, .counter = true, .series = {}};
    for (const auto& [value, n] : read()) {
      f.series.push_back({.labels = {{label, value}}, .value = static_cast<double>(n)});
    }
    return std::vector<SeriesFamily>{std::move(f)};
  });
}

std::string ControlPlaneMetrics::Serialize() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (const FamilyReader& read : external_) {
    for (SeriesFamily& e : read()) {
      prometheus::MetricFamily f;
      f.name = std::move(e.name);
      f.help = std::move(e.help);
      f.type = e.counter ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
      for (Series& series : e.series) {
        prometheus::ClientMetric m;
        m.label.push_back({"environment", environment_});
        for (auto& [k, v] : series.labels) m.label.push_back({k, std::move(v)});
        if (e.counter) {
          m.counter.value = series.value;
        } else {
          m.gauge.value = series.value;
        }
        f.metric.push_back(std::move(m));
      }
      families.push_back(std::move(f));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace hut::telemetry
