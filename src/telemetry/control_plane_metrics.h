#ifndef HUT_TELEMETRY_CONTROL_PLANE_METRICS_H_
#define HUT_TELEMETRY_CONTROL_PLANE_METRICS_H_

// hut's own metrics, served on the control API's GET /metrics (Prometheus
// text exposition, prometheus-cpp). Every series has the label environment.
//
//   hut_rollouts_total{service, strategy, result}        rollouts that finished
//   hut_rollout_duration_seconds{service, strategy, result}  start to finish
//   hut_rollback_seconds{service}      from the trigger (the analysis' rollback
//                                      verdict, or rolling-back) to rolled back
//   hut_rollout_phase{service, phase}  1 for the phase of the service's latest
//                                      rollout, 0 for the others
//   hut_analysis_verdicts_total{service, verdict}        canary verdicts
//   hut_events_total{service, type}    events recorded (the audit log)
//   hut_reconcile_tick_seconds{service}, hut_reconcile_errors_total{service}
//   hut_store_call_seconds{operation}, hut_store_errors_total{operation}
//   hut_runtime_call_seconds{operation}, hut_runtime_errors_total{operation}
//   hut_build_info{version}            always 1
//
// MeteredStore and MeteredRuntime feed it from the calls they pass on; the
// rollout series come from what the controllers write to the store, so they
// are what the audit log says. Thread-safe.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/store/store.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace hut::telemetry {

class ControlPlaneMetrics {
 public:
  ControlPlaneMetrics(const std::string& environment, const std::string& version);
  ~ControlPlaneMetrics();
  ControlPlaneMetrics(const ControlPlaneMetrics&) = delete;
  ControlPlaneMetrics& operator=(const ControlPlaneMetrics&) = delete;

  // A rollout as written. `written` : a create or an update (a finish counts
  // when this write set finished_at); false: read at start, only its phase.
  void ObserveRollout(const store::Rollout& rollout, bool written = true);
  void ObserveEvent(const store::Event& event);
  void ObserveTick(const std::string& service, std::chrono::nanoseconds took, bool ok);
  void ObserveStoreCall(std::string_view operation, std::chrono::nanoseconds took, bool ok);
  void ObserveRuntimeCall(std::string_view operation, std::chrono::nanoseconds took, bool ok);

  // Series another part keeps (the log store's counts, the replicas' usage),
  // read at each Serialize; each gets the label environment too. Before serving.
  struct Series {
    std::map<std::string, std::string> labels;
    double value = 0;
  };
  struct SeriesFamily {
    std::string name, help;
    bool counter = false;  // else a gauge
    std::vector<Series> series;
  };
  using FamilyReader = std::function<std::vector<SeriesFamily>()>;
  void ReadFamiliesWith(FamilyReader read);
  // A counter family `name` with one series per `label` value.
  using CounterReader = std::function<std::map<std::string, uint64_t>()>;
  void ReadCountersWith(std::string name, std::string help, std::string label, CounterReader read);

  // The exposition text (text/plain; version=0.0.4).
  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* rollouts_;
  prometheus::Family<prometheus::Histogram>* rollout_duration_;
  prometheus::Family<prometheus::Histogram>* rollback_;
  prometheus::Family<prometheus::Gauge>* phase_;
  prometheus::Family<prometheus::Counter>* verdicts_;
  prometheus::Family<prometheus::Counter>* events_;
  prometheus::Family<prometheus::Histogram>* tick_;
  prometheus::Family<prometheus::Counter>* tick_errors_;
  prometheus::Family<prometheus::Histogram>* store_calls_;
  prometheus::Family<prometheus::Counter>* store_errors_;
  prometheus::Family<prometheus::Histogram>* runtime_calls_;
  prometheus::Family<prometheus::Counter>* runtime_errors_;
  const std::string environment_;
  std::vector<FamilyReader> external_;

  absl::Mutex mu_;
  // Rollout id -> when its rollback was triggered, until it ends.
  std::map<int64_t, TimePoint> rolling_back_since_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hut::telemetry

#endif  // HUT_TELEMETRY_CONTROL_PLANE_METRICS_H_
