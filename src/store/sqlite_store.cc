#include "src/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/store/rules.h"

namespace hut::store {
namespace {

using nlohmann::json;

// Forward migrations, applied in order, each in its own transaction together
// with its row in schema_version. Never edit a released entry: append one.
struct Migration {
  int version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE revisions (
  environment TEXT NOT NULL,
  service TEXT NOT NULL,
  number INTEGER NOT NULL,
  version TEXT NOT NULL,
  env TEXT NOT NULL,
  cause TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (environment, service, number)
);
CREATE TABLE rollouts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  environment TEXT NOT NULL,
  service TEXT NOT NULL,
  from_revision INTEGER NOT NULL,
  to_revision INTEGER NOT NULL,
  strategy TEXT NOT NULL,
  phase TEXT NOT NULL,
  reason TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX rollouts_by_service ON rollouts (environment, service, id);
-- One rollout at a time per service, enforced by the database itself.
CREATE UNIQUE INDEX rollouts_one_unfinished ON rollouts (environment, service)
  WHERE finished_at IS NULL;
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  environment TEXT NOT NULL,
  service TEXT NOT NULL,
  rollout_id INTEGER NOT NULL,
  type TEXT NOT NULL,
  message TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX events_by_service ON events (environment, service, id);
)sql"},
    {2, R"sql(
-- What a rollout's analysis read, in order: `hut rollout export`, replays.
CREATE TABLE analysis_samples (
  rollout_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (rollout_id, seq)
);
)sql"},
    {3, R"sql(
-- Optimistic concurrency: every update names the version it read.
ALTER TABLE rollouts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
)sql"},
    {4, R"sql(
-- Leases with fencing tokens: the active controller among several servers.
CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  token INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
)sql"},
    {5, R"sql(
-- Alerts hut tracks (src/alerting) and the outbox of their notifications.
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  environment TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  name TEXT NOT NULL,
  severity TEXT NOT NULL,
  service TEXT NOT NULL,
  labels TEXT NOT NULL,
  annotations TEXT NOT NULL,
  state TEXT NOT NULL,
  starts_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deadline INTEGER,
  escalations INTEGER NOT NULL,
  acked_at INTEGER,
  acked_by TEXT NOT NULL,
  resolved_at INTEGER,
  version INTEGER NOT NULL
);
CREATE INDEX alerts_by_environment ON alerts (environment, id);
-- One open alert per label set, enforced by the database itself.
CREATE UNIQUE INDEX alerts_one_open ON alerts (environment, fingerprint)
  WHERE state <> 'resolved';
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_key TEXT NOT NULL UNIQUE,
  environment TEXT NOT NULL,
  alert_id INTEGER NOT NULL,
  channel TEXT NOT NULL,
  recipient TEXT NOT NULL,
  message TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  delivered_at INTEGER,
  failed INTEGER NOT NULL
);
CREATE INDEX notifications_pending ON notifications (environment, id)
  WHERE delivered_at IS NULL AND failed = 0;
)sql"},
};

constexpr int kLatestVersion = kMigrations[std::size(kMigrations) - 1].version;

TimePoint Truncate(TimePoint t) { return TruncateToMillis(t); }

constexpr std::string_view kStore = "sqlite";  // starts the column codecs' messages

absl::StatusOr<std::string> Dump(const json& value, const std::string& what) {
  return DumpJson(kStore, value, what);
}
absl::StatusOr<json> Parse(const std::string& text, const std::string& what) {
  return ParseJson(kStore, text, what);
}

absl::StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_CONSTRAINT:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

// A cached prepared statement in use: reset and unbound when it goes out of
// scope, so the cache can hand it out again (one user of a given SQL text at
// a time, under mu_). Bind errors are kept and reported by the next Step().
class SqliteStore::Statement {
 public:
  explicit Statement(sqlite3_stmt* s) : s_(s) {}
  Statement(Statement&& other) noexcept
      : s_(std::exchange(other.s_, nullptr)), bind_rc_(other.bind_rc_) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement() {
    if (s_ != nullptr) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }

  void Bind(int i, int64_t v) { Keep(sqlite3_bind_int64(s_, i, v)); }
  void Bind(int i, const std::string& v) {
    Keep(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  void Bind(int i, std::optional<TimePoint> t) {
    Keep(t ? sqlite3_bind_int64(s_, i, ToMillis(*t)) : sqlite3_bind_null(s_, i));
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_); }

  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(s_, col));
  }

 private:
  void Keep(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE (the write lock up front, so two connections never
// deadlock upgrading a read to a write); rolled back unless Commit()
// succeeded. Used with the store's mu_ held.
class SqliteStore::Transaction {
 public:
  explicit Transaction(SqliteStore& store) : store_(store) {}
  ~Transaction() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (begun_ && !done_) sqlite3_exec(store_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  absl::Status Begin() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    HUT_RETURN_IF_ERROR(store_.Exec("BEGIN IMMEDIATE", "begin transaction"));
    begun_ = true;
    return absl::OkStatus();
  }
  absl::Status Commit() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    HUT_RETURN_IF_ERROR(store_.Exec("COMMIT", "commit"));
    done_ = true;
    return absl::OkStatus();
  }

 private:
  SqliteStore& store_;
  bool begun_ = false;
  bool done_ = false;
};

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const Clock& clock,
                                                               SqliteStoreOptions options) {
  if (path.empty()) return absl::InvalidArgumentError("sqlite: empty database path");
  const bool memory = path == ":memory:";
  if (!memory) {
    // Create the file ourselves so it is never readable by others, not even
    // for a moment; SQLite gives the -wal and -shm files the same mode. An
    // existing file's mode is checked, never changed: a mistyped path must
    // not alter someone else's file.
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("sqlite: cannot open ", path));
    }
    struct stat st {};
    int rc = fstat(fd, &st);
    int saved_errno = errno;
    close(fd);
    if (rc != 0) {
      return absl::ErrnoToStatus(saved_errno, absl::StrCat("sqlite: cannot stat ", path));
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite: cannot open ", path, ": not a regular file"));
    }
    if ((st.st_mode & 0077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
      return absl::PermissionDeniedError(
          absl::StrCat("sqlite: ", path, " is accessible to other users (mode ", mode,
                       "); it holds hut's state and secrets: chmod 600 it"));
    }
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::Status(CodeFor(rc), absl::StrCat("sqlite: cannot open ", path, ": ", message));
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, path, clock));
  {
    absl::MutexLock lock(&store->mu_);
    HUT_RETURN_IF_ERROR(store->Configure(options));
    HUT_RETURN_IF_ERROR(store->Migrate());
  }
  return store;
}

SqliteStore::SqliteStore(sqlite3* db, std::string path, const Clock& clock)
    : path_(std::move(path)), clock_(clock), db_(db) {}

SqliteStore::~SqliteStore() {
  absl::MutexLock lock(&mu_);
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  sqlite3_close(db_);
}

absl::Status SqliteStore::Error(int rc, const std::string& what) {
  return absl::Status(CodeFor(rc), absl::StrCat("sqlite: ", path_, ": ", what, ": ",
                                                db_ != nullptr ? sqlite3_errmsg(db_)
                                                               : sqlite3_errstr(rc)));
}

absl::Status SqliteStore::Exec(const char* sql, const std::string& what) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, what);
  return absl::OkStatus();
}

absl::StatusOr<SqliteStore::Statement> SqliteStore::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) return Error(rc, absl::StrCat("cannot prepare \"", sql, "\""));
    it = statements_.emplace(sql, s).first;
  }
  return Statement(it->second);
}

absl::Status SqliteStore::Configure(const SqliteStoreOptions& options) {
  int rc = sqlite3_busy_timeout(db_, static_cast<int>(options.busy_timeout.count()));
  if (rc != SQLITE_OK) return Error(rc, "cannot set busy timeout");
  HUT_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys = ON", "cannot enable foreign keys"));
  if (path_ != ":memory:") {
    HUT_ASSIGN_OR_RETURN(Statement wal, Prepare("PRAGMA journal_mode = WAL"));
    rc = wal.Step();
    if (rc != SQLITE_ROW) return Error(rc, "cannot set WAL mode");
    if (std::string mode = wal.Text(0); mode != "wal") {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite: ", path_, ": journal mode is ", mode, ", not wal"));
    }
  }
  return Exec("PRAGMA synchronous = FULL", "cannot set synchronous mode");
}

absl::Status SqliteStore::Migrate() {
  HUT_RETURN_IF_ERROR(Exec("CREATE TABLE IF NOT EXISTS schema_version ("
                           " version INTEGER PRIMARY KEY,"
                           " applied_at INTEGER NOT NULL)",
                           "cannot create schema_version"));
  for (const Migration& migration : kMigrations) {
    // Re-read under the write lock: another process may have migrated.
    Transaction tx(*this);
    HUT_RETURN_IF_ERROR(tx.Begin());
    int current = 0;
    {
      HUT_ASSIGN_OR_RETURN(Statement q,
                           Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version"));
      int rc = q.Step();
      if (rc != SQLITE_ROW) return Error(rc, "cannot read schema version");
      current = static_cast<int>(q.Int(0));
    }
    if (current > kLatestVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite: ", path_, ": schema version ", current,
                       " is newer than this hut knows (", kLatestVersion, "); upgrade hut"));
    }
    if (current >= migration.version) continue;
    HUT_RETURN_IF_ERROR(
        Exec(migration.sql, absl::StrCat("cannot migrate to schema version ", migration.version)));
    {
      HUT_ASSIGN_OR_RETURN(
          Statement ins,
          Prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)"));
      ins.Bind(1, int64_t{migration.version});
      ins.Bind(2, ToMillis(clock_.Now()));
      int rc = ins.Step();
      if (rc != SQLITE_DONE) return Error(rc, "cannot record schema version");
    }
    HUT_RETURN_IF_ERROR(tx.Commit());
  }
  return absl::OkStatus();
}

absl::StatusOr<int> SqliteStore::SchemaVersion() {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q,
                       Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version"));
  int rc = q.Step();
  if (rc != SQLITE_ROW) return Error(rc, "cannot read schema version");
  return static_cast<int>(q.Int(0));
}

// ---- Revisions ----

// Column lists shared by the SELECTs, spliced as literals so the SQL stays constant.
#define HUT_REVISION_COLUMNS "environment, service, number, version, env, cause, created_at"
#define HUT_ROLLOUT_COLUMNS                                                                  \
  "id, environment, service, from_revision, to_revision, strategy, phase, reason, state, " \
  "created_at, updated_at, finished_at, version"

absl::StatusOr<Revision> SqliteStore::AddRevision(Revision revision, int history_limit) {
  if (revision.environment.empty() || revision.service.empty()) {
    return absl::InvalidArgumentError("sqlite: a revision needs an environment and a service");
  }
  if (history_limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite: history limit must be at least 1, got ", history_limit));
  }
  HUT_ASSIGN_OR_RETURN(std::string env_text, EnvToText(kStore, revision.env));
  absl::MutexLock lock(&mu_);
  if (revision.created_at == TimePoint()) revision.created_at = clock_.Now();
  revision.created_at = Truncate(revision.created_at);
  const std::string what =
      absl::StrCat("add revision of ", revision.service, " in ", revision.environment);

  Transaction tx(*this);
  HUT_RETURN_IF_ERROR(tx.Begin());
  HUT_RETURN_IF_ERROR(CheckFenceLocked());
  {
    HUT_ASSIGN_OR_RETURN(Statement q, Prepare("SELECT COALESCE(MAX(number), 0) FROM revisions"
                                              " WHERE environment = ? AND service = ?"));
    q.Bind(1, revision.environment);
    q.Bind(2, revision.service);
    int rc = q.Step();
    if (rc != SQLITE_ROW) return Error(rc, what);
    revision.number = static_cast<int>(q.Int(0)) + 1;
  }
  {
    HUT_ASSIGN_OR_RETURN(Statement ins,
                         Prepare("INSERT INTO revisions (environment, service, number, version,"
                                 " env, cause, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    ins.Bind(1, revision.environment);
    ins.Bind(2, revision.service);
    ins.Bind(3, int64_t{revision.number});
    ins.Bind(4, revision.version);
    ins.Bind(5, env_text);
    ins.Bind(6, revision.cause);
    ins.Bind(7, std::optional<TimePoint>(revision.created_at));
    int rc = ins.Step();
    if (rc != SQLITE_DONE) return Error(rc, what);
  }
  {
    // Keep the newest `history_limit`, and any a running rollout uses.
    HUT_ASSIGN_OR_RETURN(
        Statement trim,
        Prepare("DELETE FROM revisions WHERE environment = ?1 AND service = ?2"
                " AND number NOT IN (SELECT number FROM revisions"
                "   WHERE environment = ?1 AND service = ?2 ORDER BY number DESC LIMIT ?3)"
                " AND number NOT IN (SELECT from_revision FROM rollouts"
                "   WHERE environment = ?1 AND service = ?2 AND finished_at IS NULL"
                "   UNION SELECT to_revision FROM rollouts"
                "   WHERE environment = ?1 AND service = ?2 AND finished_at IS NULL)"));
    trim.Bind(1, revision.environment);
    trim.Bind(2, revision.service);
    trim.Bind(3, int64_t{history_limit});
    int rc = trim.Step();
    if (rc != SQLITE_DONE) return Error(rc, absl::StrCat("trim history of ", revision.service));
  }
  HUT_RETURN_IF_ERROR(tx.Commit());
  return revision;
}

namespace {

absl::StatusOr<Revision> ReadRevision(const auto& q) {
  Revision r;
  r.environment = q.Text(0);
  r.service = q.Text(1);
  r.number = static_cast<int>(q.Int(2));
  r.version = q.Text(3);
  HUT_ASSIGN_OR_RETURN(r.env, EnvFromText(kStore, q.Text(4), absl::StrCat("env of revision ", r.number,
                                                                    " of ", r.service, " in ",
                                                                    r.environment)));
  r.cause = q.Text(5);
  r.created_at = FromMillis(q.Int(6));
  return r;
}

}  // namespace

absl::StatusOr<std::optional<Revision>> SqliteStore::GetRevision(const std::string& environment,
                                                                 const std::string& service,
                                                                 int number) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q, Prepare("SELECT " HUT_REVISION_COLUMNS " FROM revisions"
                                            " WHERE environment = ? AND service = ?"
                                            " AND number = ?"));
  q.Bind(1, environment);
  q.Bind(2, service);
  q.Bind(3, int64_t{number});
  int rc = q.Step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    return Error(rc, absl::StrCat("get revision ", number, " of ", service, " in ", environment));
  }
  HUT_ASSIGN_OR_RETURN(Revision r, ReadRevision(q));
  return r;
}

absl::StatusOr<std::vector<Revision>> SqliteStore::ListRevisions(const std::string& environment,
                                                                 const std::string& service) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q,
                       Prepare("SELECT " HUT_REVISION_COLUMNS " FROM revisions"
                               " WHERE environment = ? AND service = ? ORDER BY number DESC"));
  q.Bind(1, environment);
  q.Bind(2, service);
  std::vector<Revision> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    HUT_ASSIGN_OR_RETURN(Revision r, ReadRevision(q));
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) {
    return Error(rc, absl::StrCat("list revisions of ", service, " in ", environment));
  }
  return out;
}

// ---- Rollouts ----

namespace {

absl::StatusOr<Rollout> ReadRollout(const auto& q) {
  Rollout r;
  r.id = q.Int(0);
  r.environment = q.Text(1);
  r.service = q.Text(2);
  r.from_revision = static_cast<int>(q.Int(3));
  r.to_revision = static_cast<int>(q.Int(4));
  HUT_RETURN_IF_ERROR(SetStrategyAndPhase(q.Text(5), q.Text(6), r));
  r.reason = q.Text(7);
  HUT_ASSIGN_OR_RETURN(r.state, Parse(q.Text(8), absl::StrCat("state of rollout ", r.id)));
  r.created_at = FromMillis(q.Int(9));
  r.updated_at = FromMillis(q.Int(10));
  if (!q.IsNull(11)) r.finished_at = FromMillis(q.Int(11));
  r.version = q.Int(12);
  return r;
}

}  // namespace

absl::StatusOr<std::optional<Rollout>> SqliteStore::QueryFirstRollout(Statement& q) {
  HUT_ASSIGN_OR_RETURN(std::vector<Rollout> rollouts, QueryRollouts(q));
  if (rollouts.empty()) return std::nullopt;
  return std::move(rollouts.front());
}

absl::StatusOr<std::vector<Rollout>> SqliteStore::QueryRollouts(Statement& q) {
  std::vector<Rollout> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    HUT_ASSIGN_OR_RETURN(Rollout r, ReadRollout(q));
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Error(rc, "read rollouts");
  return out;
}

absl::StatusOr<std::optional<int64_t>> SqliteStore::UnfinishedRolloutId(
    const std::string& environment, const std::string& service) {
  HUT_ASSIGN_OR_RETURN(Statement q, Prepare("SELECT id FROM rollouts WHERE environment = ?"
                                            " AND service = ? AND finished_at IS NULL"));
  q.Bind(1, environment);
  q.Bind(2, service);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return Error(rc, "find unfinished rollout");
  return q.Int(0);
}

absl::StatusOr<Rollout> SqliteStore::CreateRollout(Rollout rollout) {
  HUT_ASSIGN_OR_RETURN(CreatedRollout created, CreateRolloutWithEvents(std::move(rollout), {}));
  return std::move(created.rollout);
}

absl::StatusOr<CreatedRollout> SqliteStore::CreateRolloutWithEvents(Rollout rollout,
                                                                    std::vector<Event> events) {
  if (rollout.environment.empty() || rollout.service.empty()) {
    return absl::InvalidArgumentError("sqlite: a rollout needs an environment and a service");
  }
  HUT_ASSIGN_OR_RETURN(std::string state_text,
                       Dump(rollout.state, absl::StrCat("state of rollout of ", rollout.service)));
  HUT_ASSIGN_OR_RETURN(std::vector<std::string> event_texts, DumpEventData(kStore, events));
  absl::MutexLock lock(&mu_);
  if (rollout.created_at == TimePoint()) rollout.created_at = clock_.Now();
  if (rollout.updated_at == TimePoint()) rollout.updated_at = rollout.created_at;
  rollout.created_at = Truncate(rollout.created_at);
  rollout.updated_at = Truncate(rollout.updated_at);
  if (rollout.finished_at) rollout.finished_at = Truncate(*rollout.finished_at);
  const std::string what =
      absl::StrCat("create rollout of ", rollout.service, " in ", rollout.environment);

  Transaction tx(*this);
  HUT_RETURN_IF_ERROR(tx.Begin());
  HUT_RETURN_IF_ERROR(CheckFenceLocked());
  if (!rollout.finished_at) {
    // The unique index is the guarantee; this check gives the error its id.
    HUT_ASSIGN_OR_RETURN(std::optional<int64_t> running,
                         UnfinishedRolloutId(rollout.environment, rollout.service));
    if (running) {
      return absl::FailedPreconditionError(
          absl::StrCat("rollout ", *running, " of ", rollout.service, " in ",
                       rollout.environment, " has not finished; one rollout at a time"));
    }
  }
  HUT_ASSIGN_OR_RETURN(
      Statement ins,
      Prepare("INSERT INTO rollouts (environment, service, from_revision, to_revision, strategy,"
              " phase, reason, state, created_at, updated_at, finished_at)"
              " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  ins.Bind(1, rollout.environment);
  ins.Bind(2, rollout.service);
  ins.Bind(3, int64_t{rollout.from_revision});
  ins.Bind(4, int64_t{rollout.to_revision});
  ins.Bind(5, std::string(spec::Name(rollout.strategy)));
  ins.Bind(6, std::string(PhaseName(rollout.phase)));
  ins.Bind(7, rollout.reason);
  ins.Bind(8, state_text);
  ins.Bind(9, std::optional<TimePoint>(rollout.created_at));
  ins.Bind(10, std::optional<TimePoint>(rollout.updated_at));
  ins.Bind(11, rollout.finished_at);
  int rc = ins.Step();
  if (rc != SQLITE_DONE) return Error(rc, what);
  rollout.id = sqlite3_last_insert_rowid(db_);
  rollout.version = 1;
  const TimePoint now = clock_.Now();
  for (size_t i = 0; i < events.size(); ++i) {
    CompleteEvent(rollout, now, events[i]);
    HUT_RETURN_IF_ERROR(AppendEventLocked(events[i], event_texts[i]));
  }
  HUT_RETURN_IF_ERROR(tx.Commit());
  return CreatedRollout{std::move(rollout), std::move(events)};
}

absl::Status SqliteStore::UpdateRollout(const Rollout& rollout) {
  return UpdateRolloutWithEvents(rollout, {}, {}).status();
}

absl::Status SqliteStore::UpdateRolloutWithSamples(const Rollout& rollout,
                                                   const std::vector<AnalysisSample>& samples) {
  return UpdateRolloutWithEvents(rollout, samples, {}).status();
}

absl::StatusOr<std::vector<Event>> SqliteStore::UpdateRolloutWithEvents(
    const Rollout& rollout, const std::vector<AnalysisSample>& samples,
    std::vector<Event> events) {
  HUT_ASSIGN_OR_RETURN(std::string state_text,
                       Dump(rollout.state, absl::StrCat("state of rollout ", rollout.id)));
  std::vector<std::string> texts;
  for (const AnalysisSample& sample : samples) {
    HUT_ASSIGN_OR_RETURN(
        texts.emplace_back(),
        Dump(sample.data, absl::StrCat("analysis sample of rollout ", rollout.id)));
  }
  HUT_ASSIGN_OR_RETURN(std::vector<std::string> event_texts, DumpEventData(kStore, events));
  absl::MutexLock lock(&mu_);
  Transaction tx(*this);
  HUT_RETURN_IF_ERROR(tx.Begin());
  HUT_RETURN_IF_ERROR(CheckFenceLocked());
  HUT_RETURN_IF_ERROR(UpdateRolloutLocked(rollout, state_text));
  for (size_t i = 0; i < samples.size(); ++i) {
    HUT_RETURN_IF_ERROR(AppendSampleLocked(rollout.id, samples[i].at, texts[i]));
  }
  const TimePoint now = clock_.Now();
  for (size_t i = 0; i < events.size(); ++i) {
    CompleteEvent(rollout, now, events[i]);
    HUT_RETURN_IF_ERROR(AppendEventLocked(events[i], event_texts[i]));
  }
  HUT_RETURN_IF_ERROR(tx.Commit());
  return events;
}

absl::Status SqliteStore::UpdateRolloutLocked(const Rollout& rollout,
                                              const std::string& state_text) {
  HUT_ASSIGN_OR_RETURN(Statement q,
                       Prepare("UPDATE rollouts SET phase = ?, reason = ?, state = ?,"
                               " updated_at = ?, finished_at = ?, version = version + 1"
                               " WHERE id = ? AND version = ?"));
  q.Bind(1, std::string(PhaseName(rollout.phase)));
  q.Bind(2, rollout.reason);
  q.Bind(3, state_text);
  q.Bind(4, std::optional<TimePoint>(rollout.updated_at));
  q.Bind(5, rollout.finished_at);
  q.Bind(6, rollout.id);
  q.Bind(7, rollout.version);
  int rc = q.Step();
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: cannot mark rollout ", rollout.id, " unfinished: ",
                     rollout.service, " in ", rollout.environment,
                     " already has an unfinished rollout"));
  }
  if (rc != SQLITE_DONE) return Error(rc, absl::StrCat("update rollout ", rollout.id));
  if (sqlite3_changes(db_) == 0) {
    HUT_ASSIGN_OR_RETURN(Statement v, Prepare("SELECT version FROM rollouts WHERE id = ?"));
    v.Bind(1, rollout.id);
    rc = v.Step();
    if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("sqlite: no rollout ", rollout.id));
    if (rc != SQLITE_ROW) return Error(rc, absl::StrCat("read version of rollout ", rollout.id));
    return absl::AbortedError(absl::StrCat(
        "sqlite: rollout ", rollout.id, " changed since it was read (version ", rollout.version,
        ", stored ", v.Int(0), "); nothing was written: read it again"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Rollout>> SqliteStore::GetRollout(int64_t id) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q,
                       Prepare("SELECT " HUT_ROLLOUT_COLUMNS " FROM rollouts WHERE id = ?"));
  q.Bind(1, id);
  return QueryFirstRollout(q);
}

absl::StatusOr<std::optional<Rollout>> SqliteStore::LatestRollout(const std::string& environment,
                                                                  const std::string& service) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q, Prepare("SELECT " HUT_ROLLOUT_COLUMNS " FROM rollouts"
                                            " WHERE environment = ? AND service = ?"
                                            " ORDER BY id DESC LIMIT 1"));
  q.Bind(1, environment);
  q.Bind(2, service);
  return QueryFirstRollout(q);
}

absl::StatusOr<std::pair<int64_t, int64_t>> SqliteStore::LatestRolloutVersion(
    const std::string& environment, const std::string& service) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q, Prepare("SELECT id, version FROM rollouts"
                                            " WHERE environment = ? AND service = ?"
                                            " ORDER BY id DESC LIMIT 1"));
  q.Bind(1, environment);
  q.Bind(2, service);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return std::pair<int64_t, int64_t>{0, 0};
  if (rc != SQLITE_ROW) return Error(rc, "cannot read the latest rollout's version");
  return std::pair<int64_t, int64_t>{q.Int(0), q.Int(1)};
}

absl::StatusOr<std::optional<Rollout>> SqliteStore::LatestRolloutTo(
    const std::string& environment, const std::string& service, int to_revision) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q, Prepare("SELECT " HUT_ROLLOUT_COLUMNS " FROM rollouts"
                                            " WHERE environment = ? AND service = ?"
                                            " AND to_revision = ? ORDER BY id DESC LIMIT 1"));
  q.Bind(1, environment);
  q.Bind(2, service);
  q.Bind(3, static_cast<int64_t>(to_revision));
  return QueryFirstRollout(q);
}

absl::StatusOr<std::vector<Rollout>> SqliteStore::UnfinishedRollouts() {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q, Prepare("SELECT " HUT_ROLLOUT_COLUMNS " FROM rollouts"
                                            " WHERE finished_at IS NULL ORDER BY id"));
  return QueryRollouts(q);
}

absl::StatusOr<std::vector<Rollout>> SqliteStore::ListRollouts(const std::string& environment,
                                                               const std::string& service,
                                                               int limit) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q, Prepare("SELECT " HUT_ROLLOUT_COLUMNS " FROM rollouts"
                                            " WHERE environment = ? AND (? = '' OR service = ?)"
                                            " ORDER BY id DESC LIMIT ?"));
  q.Bind(1, environment);
  q.Bind(2, service);
  q.Bind(3, service);
  q.Bind(4, static_cast<int64_t>(limit));
  return QueryRollouts(q);
}

#undef HUT_REVISION_COLUMNS
#undef HUT_ROLLOUT_COLUMNS

// ---- Events ----

absl::StatusOr<Event> SqliteStore::AppendEvent(Event event) {
  HUT_ASSIGN_OR_RETURN(std::string data_text,
                       Dump(event.data, absl::StrCat("data of event ", event.type)));
  absl::MutexLock lock(&mu_);
  if (event.at == TimePoint()) event.at = clock_.Now();
  event.at = Truncate(event.at);
  Transaction tx(*this);
  HUT_RETURN_IF_ERROR(tx.Begin());
  HUT_RETURN_IF_ERROR(CheckFenceLocked());
  HUT_RETURN_IF_ERROR(AppendEventLocked(event, data_text));
  HUT_RETURN_IF_ERROR(tx.Commit());
  return event;
}

// Event ids in commit order: an id is assigned (AUTOINCREMENT: one past the
// largest ever used) inside a write transaction, and SQLite lets one write
// transaction run at a time on a file, across connections and processes
// (BEGIN IMMEDIATE takes the write lock up front and holds it to COMMIT).
// So the transaction that takes id N+1 starts after the one with id N
// committed, and a reader's snapshot (WAL) holds a prefix of the commits:
// it can never see N+1 without N.
absl::Status SqliteStore::AppendEventLocked(Event& event, const std::string& data_text) {
  HUT_ASSIGN_OR_RETURN(Statement q,
                       Prepare("INSERT INTO events (at, environment, service, rollout_id, type,"
                               " message, data) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  q.Bind(1, std::optional<TimePoint>(event.at));
  q.Bind(2, event.environment);
  q.Bind(3, event.service);
  q.Bind(4, event.rollout_id);
  q.Bind(5, event.type);
  q.Bind(6, event.message);
  q.Bind(7, data_text);
  int rc = q.Step();
  if (rc != SQLITE_DONE) return Error(rc, absl::StrCat("append event ", event.type));
  event.id = sqlite3_last_insert_rowid(db_);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Event>> SqliteStore::EventsAfter(int64_t after_id, int limit,
                                                            const std::string& environment,
                                                            const std::string& service) {
  if (limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite: events limit must be at least 1, got ", limit));
  }
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(
      Statement q,
      Prepare("SELECT id, at, environment, service, rollout_id, type, message, data FROM events"
              " WHERE id > ?1 AND (?2 = '' OR environment = ?2) AND (?3 = '' OR service = ?3)"
              " ORDER BY id LIMIT ?4"));
  q.Bind(1, after_id);
  q.Bind(2, environment);
  q.Bind(3, service);
  q.Bind(4, int64_t{limit});
  std::vector<Event> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    Event e;
    e.id = q.Int(0);
    e.at = FromMillis(q.Int(1));
    e.environment = q.Text(2);
    e.service = q.Text(3);
    e.rollout_id = q.Int(4);
    e.type = q.Text(5);
    e.message = q.Text(6);
    HUT_ASSIGN_OR_RETURN(e.data, Parse(q.Text(7), absl::StrCat("data of event ", e.id)));
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return Error(rc, absl::StrCat("read events after ", after_id));
  return out;
}

absl::StatusOr<int64_t> SqliteStore::LastEventId(const std::string& environment,
                                                 const std::string& service) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(
      Statement q, Prepare("SELECT COALESCE(MAX(id), 0) FROM events"
                           " WHERE (?1 = '' OR environment = ?1) AND (?2 = '' OR service = ?2)"));
  q.Bind(1, environment);
  q.Bind(2, service);
  if (q.Step() != SQLITE_ROW) return Error(SQLITE_ERROR, "read the last event id");
  return q.Int(0);
}

absl::Status SqliteStore::AppendAnalysisSample(int64_t rollout_id, TimePoint at,
                                               const nlohmann::json& sample) {
  HUT_ASSIGN_OR_RETURN(std::string text,
                       Dump(sample, absl::StrCat("analysis sample of rollout ", rollout_id)));
  absl::MutexLock lock(&mu_);
  Transaction tx(*this);
  HUT_RETURN_IF_ERROR(tx.Begin());
  HUT_RETURN_IF_ERROR(CheckFenceLocked());
  HUT_RETURN_IF_ERROR(AppendSampleLocked(rollout_id, at, text));
  return tx.Commit();
}

absl::Status SqliteStore::AppendSampleLocked(int64_t rollout_id, TimePoint at,
                                             const std::string& text) {
  HUT_ASSIGN_OR_RETURN(
      Statement q,
      Prepare("INSERT INTO analysis_samples (rollout_id, seq, at, data) VALUES (?1,"
              " (SELECT COALESCE(MAX(seq), 0) + 1 FROM analysis_samples WHERE rollout_id = ?1),"
              " ?2, ?3)"));
  q.Bind(1, rollout_id);
  q.Bind(2, std::optional<TimePoint>(Truncate(at)));
  q.Bind(3, text);
  int rc = q.Step();
  if (rc != SQLITE_DONE) {
    return Error(rc, absl::StrCat("append an analysis sample of rollout ", rollout_id));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AnalysisSample>> SqliteStore::AnalysisSamples(int64_t rollout_id) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q, Prepare("SELECT at, data FROM analysis_samples"
                                            " WHERE rollout_id = ? ORDER BY seq"));
  q.Bind(1, rollout_id);
  std::vector<AnalysisSample> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    AnalysisSample s;
    s.at = FromMillis(q.Int(0));
    HUT_ASSIGN_OR_RETURN(s.data, Parse(q.Text(1), absl::StrCat("analysis sample of rollout ",
                                                               rollout_id)));
    out.push_back(std::move(s));
  }
  if (rc != SQLITE_DONE) {
    return Error(rc, absl::StrCat("read the analysis samples of rollout ", rollout_id));
  }
  return out;
}

// ---- Alerts and the outbox ----

#define HUT_ALERT_COLUMNS                                                                 \
  "id, environment, fingerprint, name, severity, service, labels, annotations, state, " \
  "starts_at, received_at, updated_at, deadline, escalations, acked_at, acked_by, "     \
  "resolved_at, version"
#define HUT_NOTIFICATION_COLUMNS                                                         \
  "id, message_key, environment, alert_id, channel, recipient, message, created_at, " \
  "next_attempt_at, attempts, last_error, delivered_at, failed"

namespace {

std::optional<TimePoint> OptionalTime(const auto& q, int col) {
  if (q.IsNull(col)) return std::nullopt;
  return FromMillis(q.Int(col));
}

absl::StatusOr<Alert> ReadAlert(const auto& q) {
  Alert a;
  a.id = q.Int(0);
  a.environment = q.Text(1);
  a.fingerprint = q.Text(2);
  a.name = q.Text(3);
  a.severity = q.Text(4);
  a.service = q.Text(5);
  HUT_ASSIGN_OR_RETURN(a.labels, Parse(q.Text(6), absl::StrCat("labels of alert ", a.id)));
  HUT_ASSIGN_OR_RETURN(a.annotations,
                       Parse(q.Text(7), absl::StrCat("annotations of alert ", a.id)));
  std::optional<AlertState> state = ParseAlertState(q.Text(8));
  if (!state) {
    return absl::DataLossError(
        absl::StrCat("sqlite: alert ", a.id, " has an unknown state \"", q.Text(8), "\""));
  }
  a.state = *state;
  a.starts_at = FromMillis(q.Int(9));
  a.received_at = FromMillis(q.Int(10));
  a.updated_at = FromMillis(q.Int(11));
  a.deadline = OptionalTime(q, 12);
  a.escalations = static_cast<int>(q.Int(13));
  a.acked_at = OptionalTime(q, 14);
  a.acked_by = q.Text(15);
  a.resolved_at = OptionalTime(q, 16);
  a.version = q.Int(17);
  return a;
}

absl::StatusOr<Notification> ReadNotification(const auto& q) {
  Notification n;
  n.id = q.Int(0);
  n.key = q.Text(1);
  n.environment = q.Text(2);
  n.alert_id = q.Int(3);
  n.channel = q.Text(4);
  n.recipient = q.Text(5);
  HUT_ASSIGN_OR_RETURN(n.message, Parse(q.Text(6), absl::StrCat("notification ", n.id)));
  n.created_at = FromMillis(q.Int(7));
  n.next_attempt_at = FromMillis(q.Int(8));
  n.attempts = static_cast<int>(q.Int(9));
  n.last_error = q.Text(10);
  n.delivered_at = OptionalTime(q, 11);
  n.failed = q.Int(12) != 0;
  return n;
}

}  // namespace

absl::StatusOr<std::vector<Alert>> SqliteStore::QueryAlerts(Statement& q) {
  std::vector<Alert> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    HUT_ASSIGN_OR_RETURN(Alert a, ReadAlert(q));
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return Error(rc, "read alerts");
  return out;
}

absl::StatusOr<std::optional<Alert>> SqliteStore::GetAlert(int64_t id) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q,
                       Prepare("SELECT " HUT_ALERT_COLUMNS " FROM alerts WHERE id = ?"));
  q.Bind(1, id);
  HUT_ASSIGN_OR_RETURN(std::vector<Alert> found, QueryAlerts(q));
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

absl::StatusOr<std::optional<Alert>> SqliteStore::OpenAlert(const std::string& environment,
                                                            const std::string& fingerprint) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(Statement q, Prepare("SELECT " HUT_ALERT_COLUMNS " FROM alerts"
                                            " WHERE environment = ? AND fingerprint = ?"
                                            " AND state <> 'resolved'"));
  q.Bind(1, environment);
  q.Bind(2, fingerprint);
  HUT_ASSIGN_OR_RETURN(std::vector<Alert> found, QueryAlerts(q));
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

absl::StatusOr<std::vector<Alert>> SqliteStore::ListAlerts(const AlertQuery& query) {
  if (query.limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite: alerts limit must be at least 1, got ", query.limit));
  }
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(
      Statement q,
      Prepare("SELECT " HUT_ALERT_COLUMNS " FROM alerts WHERE environment = ?1"
              " AND (?2 = '' OR state = ?2) AND (?3 IS NULL OR received_at >= ?3)"
              " ORDER BY id DESC LIMIT ?4"));
  q.Bind(1, query.environment);
  q.Bind(2, query.state ? std::string(AlertStateName(*query.state)) : std::string());
  q.Bind(3, query.received_since);
  q.Bind(4, int64_t{query.limit});
  return QueryAlerts(q);
}

absl::StatusOr<Alert> SqliteStore::SaveAlert(Alert alert, std::vector<Notification> notifications,
                                            std::vector<Event> events) {
  if (alert.environment.empty() || alert.fingerprint.empty()) {
    return absl::InvalidArgumentError("sqlite: an alert needs an environment and a fingerprint");
  }
  const std::string what = absl::StrCat("save alert ", alert.name, " (", alert.fingerprint, ")");
  HUT_ASSIGN_OR_RETURN(std::string labels, Dump(alert.labels, what));
  HUT_ASSIGN_OR_RETURN(std::string annotations, Dump(alert.annotations, what));
  std::vector<std::string> messages;
  for (const Notification& n : notifications) {
    HUT_ASSIGN_OR_RETURN(messages.emplace_back(), Dump(n.message, absl::StrCat("notification ", n.key)));
  }
  absl::MutexLock lock(&mu_);
  const TimePoint now = clock_.Now();
  CompleteAlert(now, alert);
  Transaction tx(*this);
  HUT_RETURN_IF_ERROR(tx.Begin());
  HUT_RETURN_IF_ERROR(CheckFenceLocked());
  // The columns an update may change, bound from `first` on, in this order.
  const auto bind_changeable = [&](Statement& q, int first) {
    q.Bind(first, alert.name);
    q.Bind(first + 1, alert.severity);
    q.Bind(first + 2, alert.service);
    q.Bind(first + 3, labels);
    q.Bind(first + 4, annotations);
    q.Bind(first + 5, std::string(AlertStateName(alert.state)));
    q.Bind(first + 6, std::optional<TimePoint>(alert.starts_at));
    q.Bind(first + 7, std::optional<TimePoint>(alert.updated_at));
    q.Bind(first + 8, alert.deadline);
    q.Bind(first + 9, int64_t{alert.escalations});
    q.Bind(first + 10, alert.acked_at);
    q.Bind(first + 11, alert.acked_by);
    q.Bind(first + 12, alert.resolved_at);
  };
  const auto step = [&](Statement& q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    const int rc = q.Step();
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
      return absl::AlreadyExistsError(absl::StrCat("sqlite: alert ", alert.fingerprint, " in ",
                                                   alert.environment, " is open already"));
    }
    return rc == SQLITE_DONE ? absl::OkStatus() : Error(rc, what);
  };
  if (alert.id == 0) {
    HUT_ASSIGN_OR_RETURN(
        Statement ins,
        Prepare("INSERT INTO alerts (environment, fingerprint, received_at, name, severity,"
                " service, labels, annotations, state, starts_at, updated_at, deadline,"
                " escalations, acked_at, acked_by, resolved_at, version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"));
    ins.Bind(1, alert.environment);
    ins.Bind(2, alert.fingerprint);
    ins.Bind(3, std::optional<TimePoint>(alert.received_at));
    bind_changeable(ins, 4);
    HUT_RETURN_IF_ERROR(step(ins));
    alert.id = sqlite3_last_insert_rowid(db_);
    alert.version = 1;
  } else {
    HUT_ASSIGN_OR_RETURN(
        Statement q,
        Prepare("UPDATE alerts SET name = ?, severity = ?, service = ?, labels = ?,"
                " annotations = ?, state = ?, starts_at = ?, updated_at = ?, deadline = ?,"
                " escalations = ?, acked_at = ?, acked_by = ?, resolved_at = ?,"
                " version = version + 1 WHERE id = ? AND version = ?"));
    bind_changeable(q, 1);
    q.Bind(14, alert.id);
    q.Bind(15, alert.version);
    HUT_RETURN_IF_ERROR(step(q));
    if (sqlite3_changes(db_) == 0) {
      HUT_ASSIGN_OR_RETURN(Statement v, Prepare("SELECT version FROM alerts WHERE id = ?"));
      v.Bind(1, alert.id);
      const int rc = v.Step();
      if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("sqlite: no alert ", alert.id));
      if (rc != SQLITE_ROW) return Error(rc, what);
      return absl::AbortedError(absl::StrCat(
          "sqlite: alert ", alert.id, " changed since it was read (version ", alert.version,
          ", stored ", v.Int(0), "); nothing was written: read it again"));
    }
    ++alert.version;
  }
  for (size_t i = 0; i < notifications.size(); ++i) {
    CompleteNotification(&alert, now, notifications[i]);
    HUT_RETURN_IF_ERROR(QueueNotificationLocked(notifications[i], messages[i]).status());
  }
  HUT_ASSIGN_OR_RETURN(std::vector<std::string> event_texts, [&] {
    for (Event& e : events) CompleteAlertEvent(alert, now, e);
    return DumpEventData(kStore, events);
  }());
  for (size_t i = 0; i < events.size(); ++i) {
    HUT_RETURN_IF_ERROR(AppendEventLocked(events[i], event_texts[i]));
  }
  HUT_RETURN_IF_ERROR(tx.Commit());
  return alert;
}

absl::StatusOr<bool> SqliteStore::QueueNotificationLocked(Notification& n,
                                                          const std::string& message) {
  HUT_RETURN_IF_ERROR(CheckNotification(kStore, n));
  HUT_ASSIGN_OR_RETURN(
      Statement q,
      Prepare("INSERT INTO notifications (message_key, environment, alert_id, channel, recipient,"
              " message, created_at, next_attempt_at, attempts, last_error, delivered_at, failed)"
              " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_key) DO NOTHING"));
  q.Bind(1, n.key);
  q.Bind(2, n.environment);
  q.Bind(3, n.alert_id);
  q.Bind(4, n.channel);
  q.Bind(5, n.recipient);
  q.Bind(6, message);
  q.Bind(7, std::optional<TimePoint>(n.created_at));
  q.Bind(8, std::optional<TimePoint>(n.next_attempt_at));
  q.Bind(9, int64_t{n.attempts});
  q.Bind(10, n.last_error);
  q.Bind(11, n.delivered_at);
  q.Bind(12, int64_t{n.failed ? 1 : 0});
  int rc = q.Step();
  if (rc != SQLITE_DONE) return Error(rc, absl::StrCat("queue notification ", n.key));
  if (sqlite3_changes(db_) == 0) return false;
  n.id = sqlite3_last_insert_rowid(db_);
  return true;
}

absl::StatusOr<int> SqliteStore::QueueNotifications(std::vector<Notification> notifications,
                                                    std::vector<Event> events) {
  std::vector<std::string> messages;
  for (const Notification& n : notifications) {
    HUT_ASSIGN_OR_RETURN(messages.emplace_back(), Dump(n.message, absl::StrCat("notification ", n.key)));
  }
  HUT_ASSIGN_OR_RETURN(std::vector<std::string> event_texts, DumpEventData(kStore, events));
  absl::MutexLock lock(&mu_);
  const TimePoint now = clock_.Now();
  Transaction tx(*this);
  HUT_RETURN_IF_ERROR(tx.Begin());
  HUT_RETURN_IF_ERROR(CheckFenceLocked());
  int added = 0;
  for (size_t i = 0; i < notifications.size(); ++i) {
    CompleteNotification(nullptr, now, notifications[i]);
    HUT_ASSIGN_OR_RETURN(bool is_new, QueueNotificationLocked(notifications[i], messages[i]));
    added += is_new ? 1 : 0;
  }
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].at == TimePoint()) events[i].at = now;
    events[i].at = Truncate(events[i].at);
    HUT_RETURN_IF_ERROR(AppendEventLocked(events[i], event_texts[i]));
  }
  HUT_RETURN_IF_ERROR(tx.Commit());
  return added;
}

absl::StatusOr<std::vector<Notification>> SqliteStore::PendingNotifications(
    const std::string& environment, int limit) {
  if (limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite: notifications limit must be at least 1, got ", limit));
  }
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(
      Statement q,
      Prepare("SELECT " HUT_NOTIFICATION_COLUMNS " FROM notifications WHERE environment = ?"
              " AND delivered_at IS NULL AND failed = 0 ORDER BY id LIMIT ?"));
  q.Bind(1, environment);
  q.Bind(2, int64_t{limit});
  std::vector<Notification> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    HUT_ASSIGN_OR_RETURN(Notification n, ReadNotification(q));
    out.push_back(std::move(n));
  }
  if (rc != SQLITE_DONE) return Error(rc, "read pending notifications");
  return out;
}

absl::Status SqliteStore::UpdateNotification(const Notification& n) {
  absl::MutexLock lock(&mu_);
  Transaction tx(*this);
  HUT_RETURN_IF_ERROR(tx.Begin());
  HUT_RETURN_IF_ERROR(CheckFenceLocked());
  HUT_ASSIGN_OR_RETURN(
      Statement q,
      Prepare("UPDATE notifications SET attempts = ?, next_attempt_at = ?, last_error = ?,"
              " delivered_at = ?, failed = ? WHERE id = ?"));
  q.Bind(1, int64_t{n.attempts});
  q.Bind(2, std::optional<TimePoint>(n.next_attempt_at));
  q.Bind(3, n.last_error);
  q.Bind(4, n.delivered_at);
  q.Bind(5, int64_t{n.failed ? 1 : 0});
  q.Bind(6, n.id);
  int rc = q.Step();
  if (rc != SQLITE_DONE) return Error(rc, absl::StrCat("update notification ", n.id));
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("sqlite: no notification ", n.id));
  }
  return tx.Commit();
}

#undef HUT_ALERT_COLUMNS
#undef HUT_NOTIFICATION_COLUMNS

// ---- Leases ----

absl::StatusOr<std::optional<Lease>> SqliteStore::ReadLeaseLocked(std::string_view name) {
  HUT_ASSIGN_OR_RETURN(Statement q,
                       Prepare("SELECT holder, token, expires_at FROM leases WHERE name = ?"));
  q.Bind(1, std::string(name));
  int rc = q.Step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return Error(rc, absl::StrCat("read lease ", std::string(name)));
  Lease lease;
  lease.name = std::string(name);
  lease.holder = q.Text(0);
  lease.token = q.Int(1);
  lease.expires_at = FromMillis(q.Int(2));
  return lease;
}

absl::Status SqliteStore::WriteLeaseLocked(const Lease& lease) {
  HUT_ASSIGN_OR_RETURN(Statement q,
                       Prepare("INSERT INTO leases (name, holder, token, expires_at)"
                               " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET"
                               " holder = ?2, token = ?3, expires_at = ?4"));
  q.Bind(1, lease.name);
  q.Bind(2, lease.holder);
  q.Bind(3, lease.token);
  q.Bind(4, std::optional<TimePoint>(lease.expires_at));
  int rc = q.Step();
  if (rc != SQLITE_DONE) return Error(rc, absl::StrCat("write lease ", lease.name));
  return absl::OkStatus();
}

absl::Status SqliteStore::CheckFenceLocked() {
  if (!fence_) return absl::OkStatus();
  HUT_ASSIGN_OR_RETURN(std::optional<Lease> stored, ReadLeaseLocked(fence_->name));
  return CheckFence(stored, fence_->name, fence_->token);
}

absl::StatusOr<Lease> SqliteStore::AcquireLease(std::string_view name, std::string_view holder,
                                                Duration ttl, TimePoint now) {
  absl::MutexLock lock(&mu_);
  Transaction tx(*this);
  HUT_RETURN_IF_ERROR(tx.Begin());
  HUT_ASSIGN_OR_RETURN(std::optional<Lease> stored, ReadLeaseLocked(name));
  HUT_ASSIGN_OR_RETURN(Lease lease, DecideAcquire(stored, name, holder, ttl, now));
  HUT_RETURN_IF_ERROR(WriteLeaseLocked(lease));
  HUT_RETURN_IF_ERROR(tx.Commit());
  return lease;
}

absl::Status SqliteStore::ReleaseLease(std::string_view name, std::string_view holder,
                                       int64_t token) {
  absl::MutexLock lock(&mu_);
  Transaction tx(*this);
  HUT_RETURN_IF_ERROR(tx.Begin());
  HUT_ASSIGN_OR_RETURN(std::optional<Lease> stored, ReadLeaseLocked(name));
  if (!stored || stored->holder != holder || stored->token != token) return absl::OkStatus();
  stored->holder.clear();
  stored->expires_at = TimePoint();
  HUT_RETURN_IF_ERROR(WriteLeaseLocked(*stored));
  return tx.Commit();
}

absl::StatusOr<std::optional<Lease>> SqliteStore::GetLease(std::string_view name) {
  absl::MutexLock lock(&mu_);
  return ReadLeaseLocked(name);
}

void SqliteStore::Fence(std::string name, int64_t token) {
  absl::MutexLock lock(&mu_);
  fence_ = FenceSetting{std::move(name), token};
}

}  // namespace hut::store
