#ifndef HUT_TELEMETRY_METERED_H_
#define HUT_TELEMETRY_METERED_H_

// Decorators that pass every call on and time it into ControlPlaneMetrics:
// the ControlPlane gives its controllers and its API these instead of the
// store and the runtime themselves. MeteredStore also hands the metrics every
// rollout and event written, so that the rollout series follow the audit log.

#include "src/runtime/runtime.h"
#include "src/store/store.h"
#include "src/telemetry/control_plane_metrics.h"

namespace hut::telemetry {

class MeteredStore : public store::Store {
 public:
  // `inner` and `metrics` must outlive this.
  MeteredStore(store::Store& inner, ControlPlaneMetrics& metrics)
      : inner_(inner), metrics_(metrics) {}

  absl::StatusOr<store::Revision> AddRevision(store::Revision revision,
                                              int history_limit) override;
  absl::StatusOr<std::optional<store::Revision>> GetRevision(const std::string& environment,
                                                             const std::string& service,
                                                             int number) override;
  absl::StatusOr<std::vector<store::Revision>> ListRevisions(const std::string& environment,
                                                             const std::string& service) override;
  absl::StatusOr<store::Rollout> CreateRollout(store::Rollout rollout) override;
  absl::StatusOr<store::CreatedRollout> CreateRolloutWithEvents(
      store::Rollout rollout, std::vector<store::Event> events) override;
  absl::Status UpdateRollout(const store::Rollout& rollout) override;
  absl::Status UpdateRolloutWithSamples(const store::Rollout& rollout,
                                        const std::vector<store::AnalysisSample>& samples) override;
  absl::StatusOr<std::vector<store::Event>> UpdateRolloutWithEvents(
      const store::Rollout& rollout, const std::vector<store::AnalysisSample>& samples,
      std::vector<store::Event> events) override;
  absl::StatusOr<std::optional<store::Rollout>> GetRollout(int64_t id) override;
  absl::StatusOr<std::optional<store::Rollout>> LatestRollout(const std::string& environment,
                                                              const std::string& service) override;
  absl::StatusOr<std::pair<int64_t, int64_t>> LatestRolloutVersion(
      const std::string& environment, const std::string& service) override;
  absl::StatusOr<std::optional<store::Rollout>> LatestRolloutTo(const std::string& environment,
                                                                const std::string& service,
                                                                int to_revision) override;
  absl::StatusOr<std::vector<store::Rollout>> UnfinishedRollouts() override;
  absl::StatusOr<std::vector<store::Rollout>> ListRollouts(const std::string& environment,
                                                           const std::string& service,
                                                           int limit) override;
  absl::StatusOr<store::Event> AppendEvent(store::Event event) override;
  absl::StatusOr<std::vector<store::Event>> EventsAfter(int64_t after_id, int limit,
                                                        const std::string& environment,
                                                        const std::string& service) override;
  absl::Status AppendAnalysisSample(int64_t rollout_id, TimePoint at,
                                    const nlohmann::json& sample) override;
  absl::StatusOr<std::vector<store::AnalysisSample>> AnalysisSamples(int64_t rollout_id) override;
  absl::StatusOr<int64_t> LastEventId(const std::string& environment,
                                      const std::string& service) override;
  absl::StatusOr<std::optional<store::Alert>> GetAlert(int64_t id) override;
  absl::StatusOr<std::optional<store::Alert>> OpenAlert(const std::string& environment,
                                                        const std::string& fingerprint) override;
  absl::StatusOr<std::vector<store::Alert>> ListAlerts(const store::AlertQuery& query) override;
  absl::StatusOr<store::Alert> SaveAlert(store::Alert alert,
                                         std::vector<store::Notification> notifications,
                                         std::vector<store::Event> events) override;
  absl::StatusOr<int> QueueNotifications(std::vector<store::Notification> notifications,
                                         std::vector<store::Event> events) override;
  absl::StatusOr<std::vector<store::Notification>> PendingNotifications(
      const std::string& environment, int limit) override;
  absl::Status UpdateNotification(const store::Notification& notification) override;
  absl::StatusOr<store::Lease> AcquireLease(std::string_view name, std::string_view holder,
                                            Duration ttl, TimePoint now) override;
  absl::Status ReleaseLease(std::string_view name, std::string_view holder,
                            int64_t token) override;
  absl::StatusOr<std::optional<store::Lease>> GetLease(std::string_view name) override;
  void Fence(std::string name, int64_t token) override;

 private:
  template <typename F>
  auto Timed(std::string_view operation, F&& call);

  store::Store& inner_;
  ControlPlaneMetrics& metrics_;
};

class MeteredRuntime : public runtime::Runtime {
 public:
  // `inner` and `metrics` must outlive this.
  MeteredRuntime(runtime::Runtime& inner, ControlPlaneMetrics& metrics)
      : inner_(inner), metrics_(metrics) {}

  runtime::ApplyResult Apply(const std::string& service, const runtime::ServicePlan& plan,
                             const std::map<int, runtime::RevisionTemplate>& templates) override;
  absl::StatusOr<runtime::Observation> Observe(const std::string& service) override;

 private:
  runtime::Runtime& inner_;
  ControlPlaneMetrics& metrics_;
};

}  // namespace hut::telemetry

#endif  // HUT_TELEMETRY_METERED_H_
