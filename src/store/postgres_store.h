#ifndef HUT_STORE_POSTGRES_STORE_H_
#define HUT_STORE_POSTGRES_STORE_H_

// The Store for several `hut server`s: PostgreSQL, through libpqxx 6.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/store/rules.h"
#include "src/store/store.h"

namespace pqxx {
class transaction_base;
}

namespace hut::store {

struct PostgresStoreOptions {
  // Connections at most; each is used by one call at a time.
  int pool_size = 4;
  // How long opening a connection may take (libpq connect_timeout), unless
  // the URL sets connect_timeout itself.
  std::chrono::seconds connect_timeout{5};
  // How long a call waits for a free connection before failing with Unavailable.
  std::chrono::milliseconds acquire_timeout{10'000};
};

// Store on PostgreSQL. `url` is a libpq URI (postgresql://user@host:port/db,
// with ?passfile=... or a password); errors name host:port/db only, never the
// password. Open connects once (Unavailable when the server cannot be
// reached, PermissionDenied when it refuses the login) and migrates the
// schema forward under an advisory lock, so servers starting together
// migrate once; a database from a newer build is refused. Times are stored
// as integer milliseconds since the Unix epoch, JSON as text, exactly as in
// SqliteStore: both stores give back the same values.
//
// More than one writer (store.h). Every write is one READ COMMITTED
// transaction that, in order: checks the fence (reading the lease row FOR
// SHARE, so a takeover waits for the write to commit and the next write sees
// the new token); takes the locks its invariants need (an advisory lock per
// service for revision numbers and one rollout at a time, per rollout for
// sample numbers); and, last, the advisory lock for event ids, held to
// COMMIT. An event id is one past the largest committed one, read after that
// lock is taken, so ids are assigned and committed in increasing order: a
// reader never sees id N+1 before N has committed. (A sequence would not do:
// two transactions take 10 and 11 and may commit 11 first.) The cost is that
// writes of events are serialized, as they are in SQLite.
//
// Thread safety: a pool of up to `pool_size` connections guarded by a mutex;
// every method is safe for concurrent use. A connection found broken is
// dropped (the call fails with Unavailable; the next call opens a new one).
// A call is never retried: a COMMIT whose outcome is unknown is Unknown.
class PostgresStore final : public Store {
 public:
  // `clock` must outlive the store.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& url,
                                                             const Clock& clock,
                                                             PostgresStoreOptions options = {});
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  absl::StatusOr<Revision> AddRevision(Revision revision, int history_limit) override;
  absl::StatusOr<std::optional<Revision>> GetRevision(const std::string& environment,
                                                      const std::string& service,
                                                      int number) override;
  absl::StatusOr<std::vector<Revision>> ListRevisions(const std::string& environment,
                                                      const std::string& service) override;

  absl::StatusOr<Rollout> CreateRollout(Rollout rollout) override;
  absl::StatusOr<CreatedRollout> CreateRolloutWithEvents(Rollout rollout,
                                                         std::vector<Event> events) override;
  absl::Status UpdateRollout(const Rollout& rollout) override;
  absl::Status UpdateRolloutWithSamples(const Rollout& rollout,
                                        const std::vector<AnalysisSample>& samples) override;
  absl::StatusOr<std::vector<Event>> UpdateRolloutWithEvents(
      const Rollout& rollout, const std::vector<AnalysisSample>& samples,
      std::vector<Event> events) override;
  absl::StatusOr<std::optional<Rollout>> GetRollout(int64_t id) override;
  absl::StatusOr<std::optional<Rollout>> LatestRollout(const std::string& environment,
                                                       const std::string& service) override;
  absl::StatusOr<std::pair<int64_t, int64_t>> LatestRolloutVersion(
      const std::string& environment, const std::string& service) override;
  absl::StatusOr<std::optional<Rollout>> LatestRolloutTo(const std::string& environment,
                                                         const std::string& service,
                                                         int to_revision) override;
  // Oldest first.
  absl::StatusOr<std::vector<Rollout>> UnfinishedRollouts() override;
  absl::StatusOr<std::vector<Rollout>> ListRollouts(const std::string& environment,
                                                    const std::string& service,
                                                    int limit) override;

  absl::StatusOr<Event> AppendEvent(Event event) override;
  absl::StatusOr<std::vector<Event>> EventsAfter(int64_t after_id, int limit,
                                                 const std::string& environment = "",
                                                 const std::string& service = "") override;
  absl::Status AppendAnalysisSample(int64_t rollout_id, TimePoint at,
                                    const nlohmann::json& sample) override;
  absl::StatusOr<std::vector<AnalysisSample>> AnalysisSamples(int64_t rollout_id) override;
  absl::StatusOr<int64_t> LastEventId(const std::string& environment,
                                      const std::string& service) override;

  absl::StatusOr<std::optional<Alert>> GetAlert(int64_t id) override;
  absl::StatusOr<std::optional<Alert>> OpenAlert(const std::string& environment,
                                                 const std::string& fingerprint) override;
  absl::StatusOr<std::vector<Alert>> ListAlerts(const AlertQuery& query) override;
  absl::StatusOr<Alert> SaveAlert(Alert alert, std::vector<Notification> notifications,
                                  std::vector<Event> events) override;
  absl::StatusOr<int> QueueNotifications(std::vector<Notification> notifications,
                                         std::vector<Event> events) override;
  absl::StatusOr<std::vector<Notification>> PendingNotifications(const std::string& environment,
                                                                 int limit) override;
  absl::Status UpdateNotification(const Notification& notification) override;

  absl::StatusOr<Lease> AcquireLease(std::string_view name, std::string_view holder,
                                     Duration ttl, TimePoint now) override;
  absl::Status ReleaseLease(std::string_view name, std::string_view holder,
                            int64_t token) override;
  absl::StatusOr<std::optional<Lease>> GetLease(std::string_view name) override;
  void Fence(std::string name, int64_t token) override;

  // The schema version of the database (the newest this build knows).
  absl::StatusOr<int> SchemaVersion();

 private:
  class Connection;
  using Work = std::function<absl::Status(pqxx::transaction_base&)>;
  enum class Mode { kRead, kWrite, kUnfenced };

  PostgresStore(std::string url, std::string where, const Clock& clock,
                PostgresStoreOptions options);

  // Runs `work` in one transaction on a pooled connection: read-only, or a
  // write (fence checked first; committed only if `work` returns OK), or a
  // write that is never fenced (leases, migrations). Exceptions become
  // statuses naming `what`.
  absl::Status Run(const std::string& what, Mode mode, const Work& work);
  absl::StatusOr<std::unique_ptr<Connection>> Acquire();
  void Release(std::unique_ptr<Connection> connection);
  absl::Status Migrate();
  absl::Status CheckFence(pqxx::transaction_base& tx);
  // Inserts `event` (its time already stamped) under the event-id lock and
  // sets its id.
  static absl::Status InsertEvent(pqxx::transaction_base& tx, Event& event,
                                  const std::string& data_text);

  const std::string url_;    // with the password, if the user gave one: never shown
  const std::string where_;  // host:port/database, for messages
  const Clock& clock_;
  const PostgresStoreOptions options_;

  absl::Mutex pool_mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(pool_mu_);
  int open_ ABSL_GUARDED_BY(pool_mu_) = 0;  // idle and in use

  absl::Mutex fence_mu_;
  std::optional<FenceSetting> fence_ ABSL_GUARDED_BY(fence_mu_);
};

// "host:port/database" of a libpq URI, without user or password; "" when it
// is not a postgresql:// or postgres:// URI.
std::string DescribePostgresUrl(const std::string& url);

}  // namespace hut::store

#endif  // HUT_STORE_POSTGRES_STORE_H_
