#include "src/telemetry/metered.h"

#include <chrono>

namespace hut::telemetry {
namespace {

bool Ok(const absl::Status& s) { return s.ok(); }
template <typename T>
bool Ok(const absl::StatusOr<T>& s) {
  return s.ok();
}

}  // namespace

template <typename F>
auto MeteredStore::Timed(std::string_view operation, F&& call) {
  const auto start = std::chrono::steady_clock::now();
  auto result = call();
  metrics_.ObserveStoreCall(operation, std::chrono::steady_clock::now() - start, Ok(result));
  return result;
}

absl::StatusOr<store::Revision> MeteredStore::AddRevision(store::Revision revision,
                                                          int history_limit) {
  return Timed("add_revision",
               [&] { return inner_.AddRevision(std::move(revision), history_limit); });
}

absl::StatusOr<std::optional<store::Revision>> MeteredStore::GetRevision(
    const std::string& environment, const std::string& service, int number) {
  return Timed("get_revision", [&] { return inner_.GetRevision(environment, service, number); });
}

absl::StatusOr<std::vector<store::Revision>> MeteredStore::ListRevisions(
    const std::string& environment, const std::string& service) {
  return Timed("list_revisions", [&] { return inner_.ListRevisions(environment, service); });
}

absl::StatusOr<store::Rollout> MeteredStore::CreateRollout(store::Rollout rollout) {
  auto created = Timed("create_rollout", [&] { return inner_.CreateRollout(std::move(rollout)); });
  if (created.ok()) metrics_.ObserveRollout(*created);
  return created;
}

absl::StatusOr<store::CreatedRollout> MeteredStore::CreateRolloutWithEvents(
    store::Rollout rollout, std::vector<store::Event> events) {
  auto created = Timed("create_rollout", [&] {
    return inner_.CreateRolloutWithEvents(std::move(rollout), std::move(events));
  });
  if (created.ok()) {
    for (const store::Event& e : created->events) metrics_.ObserveEvent(e);
    metrics_.ObserveRollout(created->rollout);
  }
  return created;
}

absl::Status MeteredStore::UpdateRollout(const store::Rollout& rollout) {
  absl::Status s = Timed("update_rollout", [&] { return inner_.UpdateRollout(rollout); });
  if (s.ok()) metrics_.ObserveRollout(rollout);
  return s;
}

absl::Status MeteredStore::UpdateRolloutWithSamples(
    const store::Rollout& rollout, const std::vector<store::AnalysisSample>& samples) {
  absl::Status s = Timed("update_rollout",
                         [&] { return inner_.UpdateRolloutWithSamples(rollout, samples); });
  if (s.ok()) metrics_.ObserveRollout(rollout);
  return s;
}

absl::StatusOr<std::vector<store::Event>> MeteredStore::UpdateRolloutWithEvents(
    const store::Rollout& rollout, const std::vector<store::AnalysisSample>& samples,
    std::vector<store::Event> events) {
  auto saved = Timed("update_rollout", [&] {
    return inner_.UpdateRolloutWithEvents(rollout, samples, std::move(events));
  });
  if (saved.ok()) {
    // Events first: a rollback's trigger comes before its end in one write.
    for (const store::Event& e : *saved) metrics_.ObserveEvent(e);
    metrics_.ObserveRollout(rollout);
  }
  return saved;
}

absl::StatusOr<std::optional<store::Rollout>> MeteredStore::GetRollout(int64_t id) {
  return Timed("get_rollout", [&] { return inner_.GetRollout(id); });
}

absl::StatusOr<std::optional<store::Rollout>> MeteredStore::LatestRollout(
    const std::string& environment, const std::string& service) {
  return Timed("latest_rollout", [&] { return inner_.LatestRollout(environment, service); });
}

absl::StatusOr<std::pair<int64_t, int64_t>> MeteredStore::LatestRolloutVersion(
    const std::string& environment, const std::string& service) {
  return Timed("latest_rollout_version",
               [&] { return inner_.LatestRolloutVersion(environment, service); });
}

absl::StatusOr<std::optional<store::Rollout>> MeteredStore::LatestRolloutTo(
    const std::string& environment, const std::string& service, int to_revision) {
  return Timed("latest_rollout_to",
               [&] { return inner_.LatestRolloutTo(environment, service, to_revision); });
}

absl::StatusOr<std::vector<store::Rollout>> MeteredStore::UnfinishedRollouts() {
  return Timed("unfinished_rollouts", [&] { return inner_.UnfinishedRollouts(); });
}

absl::StatusOr<std::vector<store::Rollout>> MeteredStore::ListRollouts(
    const std::string& environment, const std::string& service, int limit) {
  return Timed("list_rollouts", [&] { return inner_.ListRollouts(environment, service, limit); });
}

absl::StatusOr<store::Event> MeteredStore::AppendEvent(store::Event event) {
  auto saved = Timed("append_event", [&] { return inner_.AppendEvent(std::move(event)); });
  if (saved.ok()) metrics_.ObserveEvent(*saved);
  return saved;
}

absl::StatusOr<std::vector<store::Event>> MeteredStore::EventsAfter(
    int64_t after_id, int limit, const std::string& environment, const std::string& service) {
  return Timed("events_after",
               [&] { return inner_.EventsAfter(after_id, limit, environment, service); });
}

absl::Status MeteredStore::AppendAnalysisSample(int64_t rollout_id, TimePoint at,
                                                const nlohmann::json& sample) {
  return Timed("append_analysis_sample",
               [&] { return inner_.AppendAnalysisSample(rollout_id, at, sample); });
}

absl::StatusOr<std::vector<store::AnalysisSample>> MeteredStore::AnalysisSamples(
    int64_t rollout_id) {
  return Timed("analysis_samples", [&] { return inner_.AnalysisSamples(rollout_id); });
}

absl::StatusOr<int64_t> MeteredStore::LastEventId(const std::string& environment,
                                                  const std::string& service) {
  return Timed("last_event_id", [&] { return inner_.LastEventId(environment, service); });
}

absl::StatusOr<store::Lease> MeteredStore::AcquireLease(std::string_view name,
                                                        std::string_view holder, Duration ttl,
                                                        TimePoint now) {
  return Timed("acquire_lease", [&] { return inner_.AcquireLease(name, holder, ttl, now); });
}

absl::Status MeteredStore::ReleaseLease(std::string_view name, std::string_view holder,
                                        int64_t token) {
  return Timed("release_lease", [&] { return inner_.ReleaseLease(name, holder, token); });
}

absl::StatusOr<std::optional<store::Alert>> MeteredStore::GetAlert(int64_t id) {
  return Timed("get_alert", [&] { return inner_.GetAlert(id); });
}

absl::StatusOr<std::optional<store::Alert>> MeteredStore::OpenAlert(
    const std::string& environment, const std::string& fingerprint) {
  return Timed("open_alert", [&] { return inner_.OpenAlert(environment, fingerprint); });
}

absl::StatusOr<std::vector<store::Alert>> MeteredStore::ListAlerts(
    const store::AlertQuery& query) {
  return Timed("list_alerts", [&] { return inner_.ListAlerts(query); });
}

absl::StatusOr<store::Alert> MeteredStore::SaveAlert(
    store::Alert alert, std::vector<store::Notification> notifications,
    std::vector<store::Event> events) {
  return Timed("save_alert", [&] {
    return inner_.SaveAlert(std::move(alert), std::move(notifications), std::move(events));
  });
}

absl::StatusOr<int> MeteredStore::QueueNotifications(
    std::vector<store::Notification> notifications, std::vector<store::Event> events) {
  return Timed("queue_notifications", [&] {
    return inner_.QueueNotifications(std::move(notifications), std::move(events));
  });
}

absl::StatusOr<std::vector<store::Notification>> MeteredStore::PendingNotifications(
    const std::string& environment, int limit) {
  return Timed("pending_notifications",
               [&] { return inner_.PendingNotifications(environment, limit); });
}

absl::Status MeteredStore::UpdateNotification(const store::Notification& notification) {
  return Timed("update_notification", [&] { return inner_.UpdateNotification(notification); });
}

absl::StatusOr<std::optional<store::Lease>> MeteredStore::GetLease(std::string_view name) {
  return Timed("get_lease", [&] { return inner_.GetLease(name); });
}

void MeteredStore::Fence(std::string name, int64_t token) { inner_.Fence(std::move(name), token); }

runtime::ApplyResult MeteredRuntime::Apply(
    const std::string& service, const runtime::ServicePlan& plan,
    const std::map<int, runtime::RevisionTemplate>& templates) {
  const auto start = std::chrono::steady_clock::now();
  runtime::ApplyResult result = inner_.Apply(service, plan, templates);
  metrics_.ObserveRuntimeCall("apply", std::chrono::steady_clock::now() - start,
                              result.status.ok());
  return result;
}

absl::StatusOr<runtime::Observation> MeteredRuntime::Observe(const std::string& service) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<runtime::Observation> observed = inner_.Observe(service);
  metrics_.ObserveRuntimeCall("observe", std::chrono::steady_clock::now() - start,
                              observed.ok());
  return observed;
}

}  // namespace hut::telemetry
