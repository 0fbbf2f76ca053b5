#ifndef HUT_STORE_SQLITE_STORE_H_
#define HUT_STORE_SQLITE_STORE_H_

// The embedded Store: one SQLite file (or ":memory:" for tests).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/store/rules.h"
#include "src/store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hut::store {

struct SqliteStoreOptions {
  // How long a statement waits for another connection's lock (another
  // process on the same file) before failing with Unavailable.
  std::chrono::milliseconds busy_timeout{5000};
};

// Store on SQLite 3. The file is created with mode 0600; an existing file
// that others may access (any group/other bit) is refused with
// PermissionDenied, never chmod-ed. It is opened in WAL mode with
// synchronous=FULL (a commit is on disk before the call returns), foreign
// keys on, and the schema migrated forward to the newest version this build
// knows (a file from a newer build is refused). Times are stored as integer
// milliseconds since the Unix epoch (UTC), so TimePoints come back truncated
// to milliseconds; the values the methods return are already truncated, so
// they compare equal to what a later read returns. A zero (epoch)
// `created_at` / `at` is stamped with the clock's Now(); a zero rollout
// `updated_at` becomes its `created_at`.
//
// Thread safety: one connection guarded by a mutex, so every method is safe
// for concurrent use and calls run one at a time. Several SqliteStores (or
// processes) may share a file; writes then wait up to `busy_timeout`.
// Errors are statuses naming what failed; a corrupt stored value is DataLoss.
//
// More than one writer (store.h): SQLite runs one write transaction at a time
// per file, and every write here is one transaction (BEGIN IMMEDIATE ...
// COMMIT) that also checks the fence and assigns event ids, so event ids are
// committed in increasing order and the fence check cannot race a takeover.
class SqliteStore final : public Store {
 public:
  // `path` is a file path or ":memory:". `clock` must outlive the store.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const Clock& clock,
                                                           SqliteStoreOptions options = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // InvalidArgument when environment or service is empty or history_limit < 1.
  absl::StatusOr<Revision> AddRevision(Revision revision, int history_limit) override;
  absl::StatusOr<std::optional<Revision>> GetRevision(const std::string& environment,
                                                      const std::string& service,
                                                      int number) override;
  absl::StatusOr<std::vector<Revision>> ListRevisions(const std::string& environment,
                                                      const std::string& service) override;

  // The error for a second unfinished rollout names the running one's id.
  absl::StatusOr<Rollout> CreateRollout(Rollout rollout) override;
  absl::StatusOr<CreatedRollout> CreateRolloutWithEvents(Rollout rollout,
                                                         std::vector<Event> events) override;
  // NotFound for an unknown id; FailedPrecondition if clearing finished_at
  // would make a second unfinished rollout of the service.
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
  // InvalidArgument when limit < 1.
  absl::Status AppendAnalysisSample(int64_t rollout_id, TimePoint at,
                                    const nlohmann::json& sample) override;
  absl::StatusOr<std::vector<AnalysisSample>> AnalysisSamples(int64_t rollout_id) override;
  absl::StatusOr<int64_t> LastEventId(const std::string& environment,
                                      const std::string& service) override;
  absl::StatusOr<std::vector<Event>> EventsAfter(int64_t after_id, int limit,
                                                 const std::string& environment = "",
                                                 const std::string& service = "") override;

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

  // The schema version of the open file (the newest this build knows).
  absl::StatusOr<int> SchemaVersion();

 private:
  // The statements of UpdateRollout and AppendAnalysisSample, with mu_ held.
  absl::Status UpdateRolloutLocked(const Rollout& rollout, const std::string& state_text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AppendSampleLocked(int64_t rollout_id, TimePoint at, const std::string& text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Inserts `event` (its time already stamped) and sets its id.
  absl::Status AppendEventLocked(Event& event, const std::string& data_text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Inserts `n` (completed) unless its key is queued already; sets its id.
  absl::StatusOr<bool> QueueNotificationLocked(Notification& n, const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::optional<Lease>> ReadLeaseLocked(std::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteLeaseLocked(const Lease& lease) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK unless fenced and the fence's lease has another token; run inside the
  // write's transaction, so no other writer can move the token before COMMIT.
  absl::Status CheckFenceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  class Statement;
  class Transaction;

  SqliteStore(sqlite3* db, std::string path, const Clock& clock);

  // All below run with mu_ held.
  absl::Status Configure(const SqliteStoreOptions& options) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Statement> Prepare(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Exec(const char* sql, const std::string& what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(int rc, const std::string& what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first rollout `statement` selects, if any.
  absl::StatusOr<std::optional<Rollout>> QueryFirstRollout(Statement& statement)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<Rollout>> QueryRollouts(Statement& statement)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<Alert>> QueryAlerts(Statement& statement)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::optional<int64_t>> UnfinishedRolloutId(const std::string& environment,
                                                             const std::string& service)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const Clock& clock_;

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  // Prepared statements, keyed by their SQL text, finalized by the destructor.
  std::map<std::string, sqlite3_stmt*> statements_ ABSL_GUARDED_BY(mu_);
  std::optional<FenceSetting> fence_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hut::store

#endif  // HUT_STORE_SQLITE_STORE_H_
