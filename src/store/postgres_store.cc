#include "src/store/postgres_store.h"

#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/status.h"

namespace hut::store {
namespace {

using nlohmann::json;

// Forward migrations, applied in order in one transaction under an advisory
// lock. Never edit a released entry: append one. (The PostgreSQL schema
// starts at the SQLite schema's version 4, as one step.)
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
  created_at BIGINT NOT NULL,
  PRIMARY KEY (environment, service, number)
);
CREATE TABLE rollouts (
  id BIGSERIAL PRIMARY KEY,
  environment TEXT NOT NULL,
  service TEXT NOT NULL,
  from_revision INTEGER NOT NULL,
  to_revision INTEGER NOT NULL,
  strategy TEXT NOT NULL,
  phase TEXT NOT NULL,
  reason TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  finished_at BIGINT,
  version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX rollouts_by_service ON rollouts (environment, service, id);
-- One rollout at a time per service, enforced by the database itself.
CREATE UNIQUE INDEX rollouts_one_unfinished ON rollouts (environment, service)
  WHERE finished_at IS NULL;
-- Ids are assigned under an advisory lock held to commit (see InsertEvent),
-- not by a sequence: they must become visible in increasing order.
CREATE TABLE events (
  id BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  environment TEXT NOT NULL,
  service TEXT NOT NULL,
  rollout_id BIGINT NOT NULL,
  type TEXT NOT NULL,
  message TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX events_by_service ON events (environment, service, id);
CREATE TABLE analysis_samples (
  rollout_id BIGINT NOT NULL,
  seq INTEGER NOT NULL,
  at BIGINT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (rollout_id, seq)
);
CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  token BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
)sql"},
    {2, R"sql(
-- Alerts hut tracks (src/alerting) and the outbox of their notifications.
CREATE TABLE alerts (
  id BIGSERIAL PRIMARY KEY,
  environment TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  name TEXT NOT NULL,
  severity TEXT NOT NULL,
  service TEXT NOT NULL,
  labels TEXT NOT NULL,
  annotations TEXT NOT NULL,
  state TEXT NOT NULL,
  starts_at BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  deadline BIGINT,
  escalations INTEGER NOT NULL,
  acked_at BIGINT,
  acked_by TEXT NOT NULL,
  resolved_at BIGINT,
  version BIGINT NOT NULL
);
CREATE INDEX alerts_by_environment ON alerts (environment, id);
-- One open alert per label set, enforced by the database itself.
CREATE UNIQUE INDEX alerts_one_open ON alerts (environment, fingerprint)
  WHERE state <> 'resolved';
CREATE TABLE notifications (
  id BIGSERIAL PRIMARY KEY,
  message_key TEXT NOT NULL UNIQUE,
  environment TEXT NOT NULL,
  alert_id BIGINT NOT NULL,
  channel TEXT NOT NULL,
  recipient TEXT NOT NULL,
  message TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  delivered_at BIGINT,
  failed BOOLEAN NOT NULL
);
CREATE INDEX notifications_pending ON notifications (environment, id)
  WHERE delivered_at IS NULL AND NOT failed;
)sql"},
};

constexpr int kLatestVersion = kMigrations[std::size(kMigrations) - 1].version;

// Advisory lock keys (the two-int form): class, then a key within it.
constexpr int kMigrationLock = 1;  // (1, 0)
constexpr int kEventIdLock = 2;    // (2, 0): held from an event's id to COMMIT
constexpr int kServiceLock = 3;    // (3, hash of environment and service)
constexpr int kSampleLock = 4;     // (4, hash of the rollout id)

#define HUT_REVISION_COLUMNS "environment, service, number, version, env, cause, created_at"
#define HUT_ROLLOUT_COLUMNS                                                                  \
  "id, environment, service, from_revision, to_revision, strategy, phase, reason, state, " \
  "created_at, updated_at, finished_at, version"
#define HUT_EVENT_COLUMNS "id, at, environment, service, rollout_id, type, message, data"

constexpr std::string_view kStore = "postgresql";  // starts the column codecs' messages

absl::StatusOr<std::string> Dump(const json& value, const std::string& what) {
  return DumpJson(kStore, value, what);
}
absl::StatusOr<json> Parse(const std::string& text, const std::string& what) {
  return ParseJson(kStore, text, what);
}

// A nullable BIGINT parameter: libpqxx 6 sends a null const char* as NULL.
class NullableMillis {
 public:
  explicit NullableMillis(std::optional<TimePoint> t)
      : text_(t ? std::optional<std::string>(std::to_string(ToMillis(*t))) : std::nullopt) {}
  const char* get() const { return text_ ? text_->c_str() : nullptr; }

 private:
  std::optional<std::string> text_;
};

Revision ReadRevisionColumns(const pqxx::row& row, std::string* env_text) {
  Revision r;
  r.environment = row[0].as<std::string>();
  r.service = row[1].as<std::string>();
  r.number = row[2].as<int>();
  r.version = row[3].as<std::string>();
  *env_text = row[4].as<std::string>();
  r.cause = row[5].as<std::string>();
  r.created_at = FromMillis(row[6].as<int64_t>());
  return r;
}

absl::StatusOr<Revision> ReadRevision(const pqxx::row& row) {
  std::string env_text;
  Revision r = ReadRevisionColumns(row, &env_text);
  HUT_ASSIGN_OR_RETURN(
      r.env, EnvFromText(kStore, env_text,
                         absl::StrCat("env of revision ", r.number, " of ", r.service, " in ",
                                      r.environment)));
  return r;
}

absl::StatusOr<Rollout> ReadRollout(const pqxx::row& row) {
  Rollout r;
  r.id = row[0].as<int64_t>();
  r.environment = row[1].as<std::string>();
  r.service = row[2].as<std::string>();
  r.from_revision = row[3].as<int>();
  r.to_revision = row[4].as<int>();
  HUT_RETURN_IF_ERROR(SetStrategyAndPhase(row[5].as<std::string>(), row[6].as<std::string>(), r));
  r.reason = row[7].as<std::string>();
  HUT_ASSIGN_OR_RETURN(r.state,
                       Parse(row[8].as<std::string>(), absl::StrCat("state of rollout ", r.id)));
  r.created_at = FromMillis(row[9].as<int64_t>());
  r.updated_at = FromMillis(row[10].as<int64_t>());
  if (!row[11].is_null()) r.finished_at = FromMillis(row[11].as<int64_t>());
  r.version = row[12].as<int64_t>();
  return r;
}

absl::StatusOr<std::vector<Rollout>> ReadRollouts(const pqxx::result& result) {
  std::vector<Rollout> out;
  for (const pqxx::row& row : result) {
    HUT_ASSIGN_OR_RETURN(Rollout r, ReadRollout(row));
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::optional<Rollout>> FirstRollout(const pqxx::result& result) {
  if (result.empty()) return std::nullopt;
  HUT_ASSIGN_OR_RETURN(Rollout r, ReadRollout(result[0]));
  return r;
}

std::optional<Lease> ReadLease(std::string_view name, const pqxx::result& result) {
  if (result.empty()) return std::nullopt;
  Lease lease;
  lease.name = std::string(name);
  lease.holder = result[0][0].as<std::string>();
  lease.token = result[0][1].as<int64_t>();
  lease.expires_at = FromMillis(result[0][2].as<int64_t>());
  return lease;
}

void LockService(pqxx::transaction_base& tx, const std::string& environment,
                 const std::string& service) {
  // A unit separator keeps ("a/b", "c") and ("a", "b/c") apart.
  tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2 || chr(31) || $3))", kServiceLock,
                 environment, service);
}

// Adds connect_timeout and application_name to a URI unless it has them.
std::string WithParams(std::string url, const PostgresStoreOptions& options) {
  auto add = [&url](const std::string& key, const std::string& value) {
    if (url.find(key + "=") != std::string::npos) return;
    url += url.find('?') == std::string::npos ? "?" : "&";
    absl::StrAppend(&url, key, "=", value);
  };
  add("connect_timeout", std::to_string(std::max<int64_t>(1, options.connect_timeout.count())));
  add("application_name", "hut");
  return url;
}

}  // namespace

std::string DescribePostgresUrl(const std::string& url) {
  std::string rest;
  for (const char* scheme : {"postgresql://", "postgres://"}) {
    if (url.rfind(scheme, 0) == 0) rest = url.substr(std::string(scheme).size());
  }
  if (rest.empty()) return "";
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  std::string database;
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    database = rest.substr(slash + 1);
    rest.resize(slash);
  }
  if (size_t at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  std::string host = rest, port;
  if (size_t colon = rest.rfind(':'); colon != std::string::npos && rest.back() != ']') {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  // Parameters in the query override the authority (libpq does the same).
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string pair = query.substr(start, end - start);
    if (pair.rfind("host=", 0) == 0) host = pair.substr(5);
    if (pair.rfind("port=", 0) == 0) port = pair.substr(5);
    if (pair.rfind("dbname=", 0) == 0) database = pair.substr(7);
    start = end + 1;
  }
  if (host.empty()) host = "localhost";
  if (port.empty()) port = "5432";
  return absl::StrCat(host, ":", port, "/", database);
}

class PostgresStore::Connection {
 public:
  explicit Connection(const std::string& url) : c(url) {}
  pqxx::connection c;
};

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& url,
                                                                   const Clock& clock,
                                                                   PostgresStoreOptions options) {
  const std::string where = DescribePostgresUrl(url);
  if (where.empty()) {
    return absl::InvalidArgumentError(
        "postgresql: the database URL must start with postgresql:// or postgres://");
  }
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("postgresql: pool size must be at least 1, got ", options.pool_size));
  }
  std::unique_ptr<PostgresStore> store(
      new PostgresStore(WithParams(url, options), where, clock, options));
  HUT_RETURN_IF_ERROR(store->Migrate());
  return store;
}

PostgresStore::PostgresStore(std::string url, std::string where, const Clock& clock,
                             PostgresStoreOptions options)
    : url_(std::move(url)), where_(std::move(where)), clock_(clock), options_(options) {}

PostgresStore::~PostgresStore() = default;

absl::StatusOr<std::unique_ptr<PostgresStore::Connection>> PostgresStore::Acquire() {
  {
    absl::MutexLock lock(&pool_mu_);
    auto free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool_mu_) {
      return !idle_.empty() || open_ < options_.pool_size;
    };
    if (!pool_mu_.AwaitWithTimeout(absl::Condition(&free),
                                   absl::FromChrono(options_.acquire_timeout))) {
      return absl::UnavailableError(
          absl::StrCat("postgresql: ", where_, ": no free connection within ",
                       options_.acquire_timeout.count(), " ms"));
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
    ++open_;
  }
  try {
    return std::make_unique<Connection>(url_);
  } catch (const std::exception& e) {
    Release(nullptr);
    std::string message = e.what();
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    const bool refused = message.find("authentication failed") != std::string::npos ||
                         message.find("password") != std::string::npos;
    return absl::Status(
        refused ? absl::StatusCode::kPermissionDenied : absl::StatusCode::kUnavailable,
        absl::StrCat("postgresql: cannot connect to ", where_, ": ", message));
  }
}

void PostgresStore::Release(std::unique_ptr<Connection> connection) {
  absl::MutexLock lock(&pool_mu_);  // a waiter in Acquire wakes when it unlocks
  if (connection != nullptr && connection->c.is_open()) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
}

absl::Status PostgresStore::Run(const std::string& what, Mode mode, const Work& work) {
  HUT_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection, Acquire());
  const std::string prefix = absl::StrCat("postgresql: ", where_, ": ", what, ": ");
  absl::Status status;
  bool broken = false;
  try {
    if (mode == Mode::kRead) {
      pqxx::read_transaction tx(connection->c);
      status = work(tx);
    } else {
      pqxx::work tx(connection->c);
      if (mode == Mode::kWrite) status = CheckFence(tx);
      if (status.ok()) status = work(tx);
      if (status.ok()) tx.commit();  // else the destructor rolls back
    }
  } catch (const pqxx::broken_connection& e) {
    broken = true;
    status = absl::UnavailableError(absl::StrCat(prefix, "connection lost: ", e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    broken = true;
    status = absl::UnknownError(
        absl::StrCat(prefix, "the commit's outcome is unknown (read again): ", e.what()));
  } catch (const pqxx::transaction_rollback& e) {
    // Serialization failure or deadlock: nothing was written; try again.
    status = absl::AbortedError(absl::StrCat(prefix, e.what()));
  } catch (const pqxx::data_exception& e) {
    status = absl::InvalidArgumentError(absl::StrCat(prefix, e.what()));
  } catch (const pqxx::integrity_constraint_violation& e) {
    status = absl::FailedPreconditionError(absl::StrCat(prefix, e.what()));
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat(prefix, e.what()));
  }
  Release(broken ? nullptr : std::move(connection));
  return status;
}

absl::Status PostgresStore::Migrate() {
  return Run("migrate the schema", Mode::kUnfenced, [&](pqxx::transaction_base& tx) {
    tx.exec_params("SELECT pg_advisory_xact_lock($1, 0)", kMigrationLock);
    tx.exec(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
    int current = tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_version")[0][0].as<int>();
    if (current > kLatestVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("postgresql: ", where_, ": schema version ", current,
                       " is newer than this hut knows (", kLatestVersion, "); upgrade hut"));
    }
    for (const Migration& migration : kMigrations) {
      if (current >= migration.version) continue;
      tx.exec(migration.sql);
      tx.exec_params("INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                     migration.version, ToMillis(clock_.Now()));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<int> PostgresStore::SchemaVersion() {
  int version = 0;
  HUT_RETURN_IF_ERROR(Run("read the schema version", Mode::kRead, [&](pqxx::transaction_base& tx) {
    version = tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_version")[0][0].as<int>();
    return absl::OkStatus();
  }));
  return version;
}

absl::Status PostgresStore::CheckFence(pqxx::transaction_base& tx) {
  std::optional<FenceSetting> fence;
  {
    absl::MutexLock lock(&fence_mu_);
    fence = fence_;
  }
  if (!fence) return absl::OkStatus();
  // FOR SHARE: a takeover (which updates the row) waits until this write
  // commits, and a write after the takeover reads the new token.
  pqxx::result r = tx.exec_params(
      "SELECT holder, token, expires_at FROM leases WHERE name = $1 FOR SHARE", fence->name);
  return store::CheckFence(ReadLease(fence->name, r), fence->name, fence->token);
}

// ---- Revisions ----

absl::StatusOr<Revision> PostgresStore::AddRevision(Revision revision, int history_limit) {
  if (revision.environment.empty() || revision.service.empty()) {
    return absl::InvalidArgumentError("postgresql: a revision needs an environment and a service");
  }
  if (history_limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("postgresql: history limit must be at least 1, got ", history_limit));
  }
  HUT_ASSIGN_OR_RETURN(std::string env_text, EnvToText(kStore, revision.env));
  if (revision.created_at == TimePoint()) revision.created_at = clock_.Now();
  revision.created_at = TruncateToMillis(revision.created_at);
  HUT_RETURN_IF_ERROR(Run(
      absl::StrCat("add revision of ", revision.service, " in ", revision.environment),
      Mode::kWrite, [&](pqxx::transaction_base& tx) {
        LockService(tx, revision.environment, revision.service);
        revision.number =
            tx.exec_params("SELECT COALESCE(MAX(number), 0) FROM revisions"
                           " WHERE environment = $1 AND service = $2",
                           revision.environment, revision.service)[0][0]
                .as<int>() +
            1;
        tx.exec_params(
            "INSERT INTO revisions (environment, service, number, version, env, cause,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            revision.environment, revision.service, revision.number, revision.version, env_text,
            revision.cause, ToMillis(revision.created_at));
        // Keep the newest `history_limit`, and any a running rollout uses.
        tx.exec_params(
            "DELETE FROM revisions WHERE environment = $1 AND service = $2"
            " AND number NOT IN (SELECT number FROM revisions"
            "   WHERE environment = $1 AND service = $2 ORDER BY number DESC LIMIT $3)"
            " AND number NOT IN (SELECT from_revision FROM rollouts"
            "   WHERE environment = $1 AND service = $2 AND finished_at IS NULL"
            "   UNION SELECT to_revision FROM rollouts"
            "   WHERE environment = $1 AND service = $2 AND finished_at IS NULL)",
            revision.environment, revision.service, history_limit);
        return absl::OkStatus();
      }));
  return revision;
}

absl::StatusOr<std::optional<Revision>> PostgresStore::GetRevision(const std::string& environment,
                                                                   const std::string& service,
                                                                   int number) {
  std::optional<Revision> out;
  HUT_RETURN_IF_ERROR(
      Run(absl::StrCat("get revision ", number, " of ", service, " in ", environment),
          Mode::kRead, [&](pqxx::transaction_base& tx) -> absl::Status {
            pqxx::result r = tx.exec_params("SELECT " HUT_REVISION_COLUMNS " FROM revisions"
                                            " WHERE environment = $1 AND service = $2"
                                            " AND number = $3",
                                            environment, service, number);
            if (r.empty()) return absl::OkStatus();
            HUT_ASSIGN_OR_RETURN(out, ReadRevision(r[0]));
            return absl::OkStatus();
          }));
  return out;
}

absl::StatusOr<std::vector<Revision>> PostgresStore::ListRevisions(const std::string& environment,
                                                                   const std::string& service) {
  std::vector<Revision> out;
  HUT_RETURN_IF_ERROR(Run(absl::StrCat("list revisions of ", service, " in ", environment),
                          Mode::kRead, [&](pqxx::transaction_base& tx) -> absl::Status {
                            pqxx::result r = tx.exec_params(
                                "SELECT " HUT_REVISION_COLUMNS " FROM revisions"
                                " WHERE environment = $1 AND service = $2 ORDER BY number DESC",
                                environment, service);
                            out.clear();
                            for (const pqxx::row& row : r) {
                              HUT_ASSIGN_OR_RETURN(Revision revision, ReadRevision(row));
                              out.push_back(std::move(revision));
                            }
                            return absl::OkStatus();
                          }));
  return out;
}

// ---- Rollouts ----

absl::StatusOr<Rollout> PostgresStore::CreateRollout(Rollout rollout) {
  HUT_ASSIGN_OR_RETURN(CreatedRollout created, CreateRolloutWithEvents(std::move(rollout), {}));
  return std::move(created.rollout);
}

absl::StatusOr<CreatedRollout> PostgresStore::CreateRolloutWithEvents(Rollout rollout,
                                                                      std::vector<Event> events) {
  if (rollout.environment.empty() || rollout.service.empty()) {
    return absl::InvalidArgumentError("postgresql: a rollout needs an environment and a service");
  }
  HUT_ASSIGN_OR_RETURN(std::string state_text,
                       Dump(rollout.state, absl::StrCat("state of rollout of ", rollout.service)));
  HUT_ASSIGN_OR_RETURN(std::vector<std::string> event_texts, DumpEventData(kStore, events));
  if (rollout.created_at == TimePoint()) rollout.created_at = clock_.Now();
  if (rollout.updated_at == TimePoint()) rollout.updated_at = rollout.created_at;
  rollout.created_at = TruncateToMillis(rollout.created_at);
  rollout.updated_at = TruncateToMillis(rollout.updated_at);
  if (rollout.finished_at) rollout.finished_at = TruncateToMillis(*rollout.finished_at);
  const TimePoint now = clock_.Now();
  std::vector<Event> saved;
  HUT_RETURN_IF_ERROR(Run(
      absl::StrCat("create rollout of ", rollout.service, " in ", rollout.environment),
      Mode::kWrite, [&](pqxx::transaction_base& tx) -> absl::Status {
        // One creator per service at a time, so the check below is exact.
        LockService(tx, rollout.environment, rollout.service);
        if (!rollout.finished_at) {
          pqxx::result running = tx.exec_params(
              "SELECT id FROM rollouts WHERE environment = $1 AND service = $2"
              " AND finished_at IS NULL",
              rollout.environment, rollout.service);
          if (!running.empty()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "rollout ", running[0][0].as<int64_t>(), " of ", rollout.service, " in ",
                rollout.environment, " has not finished; one rollout at a time"));
          }
        }
        NullableMillis finished(rollout.finished_at);
        rollout.id =
            tx.exec_params(
                  "INSERT INTO rollouts (environment, service, from_revision, to_revision,"
                  " strategy, phase, reason, state, created_at, updated_at, finished_at)"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                  rollout.environment, rollout.service, rollout.from_revision,
                  rollout.to_revision, std::string(spec::Name(rollout.strategy)),
                  std::string(PhaseName(rollout.phase)), rollout.reason,
                  state_text, ToMillis(rollout.created_at), ToMillis(rollout.updated_at),
                  finished.get())[0][0]
                .as<int64_t>();
        rollout.version = 1;
        saved = events;
        for (size_t i = 0; i < saved.size(); ++i) {
          CompleteEvent(rollout, now, saved[i]);
          HUT_RETURN_IF_ERROR(InsertEvent(tx, saved[i], event_texts[i]));
        }
        return absl::OkStatus();
      }));
  return CreatedRollout{std::move(rollout), std::move(saved)};
}

absl::Status PostgresStore::UpdateRollout(const Rollout& rollout) {
  return UpdateRolloutWithEvents(rollout, {}, {}).status();
}

absl::Status PostgresStore::UpdateRolloutWithSamples(const Rollout& rollout,
                                                     const std::vector<AnalysisSample>& samples) {
  return UpdateRolloutWithEvents(rollout, samples, {}).status();
}

absl::StatusOr<std::vector<Event>> PostgresStore::UpdateRolloutWithEvents(
    const Rollout& rollout, const std::vector<AnalysisSample>& samples,
    std::vector<Event> events) {
  HUT_ASSIGN_OR_RETURN(std::string state_text,
                       Dump(rollout.state, absl::StrCat("state of rollout ", rollout.id)));
  HUT_ASSIGN_OR_RETURN(std::vector<std::string> sample_texts, DumpSampleData(kStore, rollout.id, samples));
  HUT_ASSIGN_OR_RETURN(std::vector<std::string> event_texts, DumpEventData(kStore, events));
  const TimePoint now = clock_.Now();
  std::vector<Event> saved;
  HUT_RETURN_IF_ERROR(Run(
      absl::StrCat("update rollout ", rollout.id), Mode::kWrite,
      [&](pqxx::transaction_base& tx) -> absl::Status {
        NullableMillis finished(rollout.finished_at);
        pqxx::result updated;
        try {
          // The row lock makes a concurrent updater wait, then re-check the
          // version against the row as committed: one of two wins.
          updated = tx.exec_params(
              "UPDATE rollouts SET phase = $1, reason = $2, state = $3, updated_at = $4,"
              " finished_at = $5, version = version + 1 WHERE id = $6 AND version = $7"
              " RETURNING id",
              std::string(PhaseName(rollout.phase)), rollout.reason, state_text,
              ToMillis(rollout.updated_at),
              finished.get(), rollout.id, rollout.version);
        } catch (const pqxx::unique_violation&) {
          return absl::FailedPreconditionError(absl::StrCat(
              "postgresql: cannot mark rollout ", rollout.id, " unfinished: ", rollout.service,
              " in ", rollout.environment, " already has an unfinished rollout"));
        }
        if (updated.empty()) {
          pqxx::result v =
              tx.exec_params("SELECT version FROM rollouts WHERE id = $1", rollout.id);
          if (v.empty()) {
            return absl::NotFoundError(absl::StrCat("postgresql: no rollout ", rollout.id));
          }
          return absl::AbortedError(absl::StrCat(
              "postgresql: rollout ", rollout.id, " changed since it was read (version ",
              rollout.version, ", stored ", v[0][0].as<int64_t>(),
              "); nothing was written: read it again"));
        }
        if (!samples.empty()) {
          tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2::text))", kSampleLock,
                         rollout.id);
        }
        for (size_t i = 0; i < samples.size(); ++i) {
          tx.exec_params(
              "INSERT INTO analysis_samples (rollout_id, seq, at, data) VALUES ($1,"
              " (SELECT COALESCE(MAX(seq), 0) + 1 FROM analysis_samples WHERE rollout_id = $1),"
              " $2, $3)",
              rollout.id, ToMillis(samples[i].at), sample_texts[i]);
        }
        saved = events;
        for (size_t i = 0; i < saved.size(); ++i) {
          CompleteEvent(rollout, now, saved[i]);
          HUT_RETURN_IF_ERROR(InsertEvent(tx, saved[i], event_texts[i]));
        }
        return absl::OkStatus();
      }));
  return saved;
}

absl::StatusOr<std::optional<Rollout>> PostgresStore::GetRollout(int64_t id) {
  std::optional<Rollout> out;
  HUT_RETURN_IF_ERROR(Run(absl::StrCat("get rollout ", id), Mode::kRead,
                          [&](pqxx::transaction_base& tx) -> absl::Status {
                            HUT_ASSIGN_OR_RETURN(
                                out, FirstRollout(tx.exec_params(
                                         "SELECT " HUT_ROLLOUT_COLUMNS
                                         " FROM rollouts WHERE id = $1",
                                         id)));
                            return absl::OkStatus();
                          }));
  return out;
}

absl::StatusOr<std::optional<Rollout>> PostgresStore::LatestRollout(
    const std::string& environment, const std::string& service) {
  std::optional<Rollout> out;
  HUT_RETURN_IF_ERROR(Run(absl::StrCat("latest rollout of ", service, " in ", environment),
                          Mode::kRead, [&](pqxx::transaction_base& tx) -> absl::Status {
                            HUT_ASSIGN_OR_RETURN(
                                out, FirstRollout(tx.exec_params(
                                         "SELECT " HUT_ROLLOUT_COLUMNS " FROM rollouts"
                                         " WHERE environment = $1 AND service = $2"
                                         " ORDER BY id DESC LIMIT 1",
                                         environment, service)));
                            return absl::OkStatus();
                          }));
  return out;
}

absl::StatusOr<std::pair<int64_t, int64_t>> PostgresStore::LatestRolloutVersion(
    const std::string& environment, const std::string& service) {
  std::pair<int64_t, int64_t> out{0, 0};
  HUT_RETURN_IF_ERROR(Run(absl::StrCat("latest rollout version of ", service, " in ", environment),
                          Mode::kRead, [&](pqxx::transaction_base& tx) -> absl::Status {
                            pqxx::result r = tx.exec_params(
                                "SELECT id, version FROM rollouts"
                                " WHERE environment = $1 AND service = $2"
                                " ORDER BY id DESC LIMIT 1",
                                environment, service);
                            if (!r.empty()) {
                              out = {r[0][0].as<int64_t>(), r[0][1].as<int64_t>()};
                            }
                            return absl::OkStatus();
                          }));
  return out;
}

absl::StatusOr<std::optional<Rollout>> PostgresStore::LatestRolloutTo(
    const std::string& environment, const std::string& service, int to_revision) {
  std::optional<Rollout> out;
  HUT_RETURN_IF_ERROR(Run(absl::StrCat("latest rollout of ", service, " in ", environment,
                                       " to revision ", to_revision),
                          Mode::kRead, [&](pqxx::transaction_base& tx) -> absl::Status {
                            HUT_ASSIGN_OR_RETURN(
                                out, FirstRollout(tx.exec_params(
                                         "SELECT " HUT_ROLLOUT_COLUMNS " FROM rollouts"
                                         " WHERE environment = $1 AND service = $2"
                                         " AND to_revision = $3 ORDER BY id DESC LIMIT 1",
                                         environment, service, to_revision)));
                            return absl::OkStatus();
                          }));
  return out;
}

absl::StatusOr<std::vector<Rollout>> PostgresStore::UnfinishedRollouts() {
  std::vector<Rollout> out;
  HUT_RETURN_IF_ERROR(Run("read unfinished rollouts", Mode::kRead,
                          [&](pqxx::transaction_base& tx) -> absl::Status {
                            HUT_ASSIGN_OR_RETURN(
                                out, ReadRollouts(tx.exec("SELECT " HUT_ROLLOUT_COLUMNS
                                                          " FROM rollouts WHERE finished_at"
                                                          " IS NULL ORDER BY id")));
                            return absl::OkStatus();
                          }));
  return out;
}

absl::StatusOr<std::vector<Rollout>> PostgresStore::ListRollouts(const std::string& environment,
                                                                 const std::string& service,
                                                                 int limit) {
  std::vector<Rollout> out;
  HUT_RETURN_IF_ERROR(Run(absl::StrCat("list rollouts in ", environment), Mode::kRead,
                          [&](pqxx::transaction_base& tx) -> absl::Status {
                            HUT_ASSIGN_OR_RETURN(
                                out, ReadRollouts(tx.exec_params(
                                         "SELECT " HUT_ROLLOUT_COLUMNS " FROM rollouts"
                                         " WHERE environment = $1 AND ($2 = '' OR service = $2)"
                                         // As in SQLite, a negative limit is none.
                                         " ORDER BY id DESC"
                                         " LIMIT CASE WHEN $3 < 0 THEN NULL ELSE $3 END",
                                         environment, service, limit)));
                            return absl::OkStatus();
                          }));
  return out;
}

// ---- Events ----

absl::Status PostgresStore::InsertEvent(pqxx::transaction_base& tx, Event& event,
                                        const std::string& data_text) {
  // Held to COMMIT (a second call in the same transaction returns at once).
  // The next writer's MAX(id) is read after this transaction committed, so
  // ids are assigned, and become visible, in increasing order.
  tx.exec_params("SELECT pg_advisory_xact_lock($1, 0)", kEventIdLock);
  event.id = tx.exec_params(
                   "INSERT INTO events (id, at, environment, service, rollout_id, type, message,"
                   " data) VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM events),"
                   " $1, $2, $3, $4, $5, $6, $7) RETURNING id",
                   ToMillis(event.at), event.environment, event.service, event.rollout_id,
                   event.type, event.message, data_text)[0][0]
                 .as<int64_t>();
  return absl::OkStatus();
}

absl::StatusOr<Event> PostgresStore::AppendEvent(Event event) {
  HUT_ASSIGN_OR_RETURN(std::string data_text,
                       Dump(event.data, absl::StrCat("data of event ", event.type)));
  if (event.at == TimePoint()) event.at = clock_.Now();
  event.at = TruncateToMillis(event.at);
  HUT_RETURN_IF_ERROR(Run(absl::StrCat("append event ", event.type), Mode::kWrite,
                          [&](pqxx::transaction_base& tx) {
                            return InsertEvent(tx, event, data_text);
                          }));
  return event;
}

absl::StatusOr<std::vector<Event>> PostgresStore::EventsAfter(int64_t after_id, int limit,
                                                              const std::string& environment,
                                                              const std::string& service) {
  if (limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("postgresql: events limit must be at least 1, got ", limit));
  }
  std::vector<Event> out;
  HUT_RETURN_IF_ERROR(Run(
      absl::StrCat("read events after ", after_id), Mode::kRead,
      [&](pqxx::transaction_base& tx) -> absl::Status {
        pqxx::result r = tx.exec_params(
            "SELECT " HUT_EVENT_COLUMNS " FROM events WHERE id > $1"
            " AND ($2 = '' OR environment = $2) AND ($3 = '' OR service = $3)"
            " ORDER BY id LIMIT $4",
            after_id, environment, service, limit);
        out.clear();
        for (const pqxx::row& row : r) {
          Event e;
          e.id = row[0].as<int64_t>();
          e.at = FromMillis(row[1].as<int64_t>());
          e.environment = row[2].as<std::string>();
          e.service = row[3].as<std::string>();
          e.rollout_id = row[4].as<int64_t>();
          e.type = row[5].as<std::string>();
          e.message = row[6].as<std::string>();
          HUT_ASSIGN_OR_RETURN(
              e.data, Parse(row[7].as<std::string>(), absl::StrCat("data of event ", e.id)));
          out.push_back(std::move(e));
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<int64_t> PostgresStore::LastEventId(const std::string& environment,
                                                   const std::string& service) {
  int64_t id = 0;
  HUT_RETURN_IF_ERROR(Run("read the last event id", Mode::kRead, [&](pqxx::transaction_base& tx) {
    id = tx.exec_params("SELECT COALESCE(MAX(id), 0) FROM events"
                        " WHERE ($1 = '' OR environment = $1) AND ($2 = '' OR service = $2)",
                        environment, service)[0][0]
             .as<int64_t>();
    return absl::OkStatus();
  }));
  return id;
}

absl::Status PostgresStore::AppendAnalysisSample(int64_t rollout_id, TimePoint at,
                                                 const nlohmann::json& sample) {
  HUT_ASSIGN_OR_RETURN(std::string text,
                       Dump(sample, absl::StrCat("analysis sample of rollout ", rollout_id)));
  return Run(absl::StrCat("append an analysis sample of rollout ", rollout_id), Mode::kWrite,
             [&](pqxx::transaction_base& tx) {
               tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2::text))",
                              kSampleLock, rollout_id);
               tx.exec_params(
                   "INSERT INTO analysis_samples (rollout_id, seq, at, data) VALUES ($1,"
                   " (SELECT COALESCE(MAX(seq), 0) + 1 FROM analysis_samples"
                   " WHERE rollout_id = $1), $2, $3)",
                   rollout_id, ToMillis(at), text);
               return absl::OkStatus();
             });
}

absl::StatusOr<std::vector<AnalysisSample>> PostgresStore::AnalysisSamples(int64_t rollout_id) {
  std::vector<AnalysisSample> out;
  HUT_RETURN_IF_ERROR(Run(
      absl::StrCat("read the analysis samples of rollout ", rollout_id), Mode::kRead,
      [&](pqxx::transaction_base& tx) -> absl::Status {
        pqxx::result r = tx.exec_params(
            "SELECT at, data FROM analysis_samples WHERE rollout_id = $1 ORDER BY seq",
            rollout_id);
        out.clear();
        for (const pqxx::row& row : r) {
          AnalysisSample s;
          s.at = FromMillis(row[0].as<int64_t>());
          HUT_ASSIGN_OR_RETURN(s.data, Parse(row[1].as<std::string>(),
                                             absl::StrCat("analysis sample of rollout ",
                                                          rollout_id)));
          out.push_back(std::move(s));
        }
        return absl::OkStatus();
      }));
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

std::optional<TimePoint> OptionalTime(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return FromMillis(f.as<int64_t>());
}

absl::StatusOr<std::vector<Alert>> ReadAlerts(const pqxx::result& result) {
  std::vector<Alert> out;
  for (const pqxx::row& row : result) {
    Alert a;
    a.id = row[0].as<int64_t>();
    a.environment = row[1].as<std::string>();
    a.fingerprint = row[2].as<std::string>();
    a.name = row[3].as<std::string>();
    a.severity = row[4].as<std::string>();
    a.service = row[5].as<std::string>();
    HUT_ASSIGN_OR_RETURN(a.labels, Parse(row[6].as<std::string>(),
                                         absl::StrCat("labels of alert ", a.id)));
    HUT_ASSIGN_OR_RETURN(a.annotations, Parse(row[7].as<std::string>(),
                                              absl::StrCat("annotations of alert ", a.id)));
    const std::string state = row[8].as<std::string>();
    std::optional<AlertState> parsed = ParseAlertState(state);
    if (!parsed) {
      return absl::DataLossError(
          absl::StrCat("postgresql: alert ", a.id, " has an unknown state \"", state, "\""));
    }
    a.state = *parsed;
    a.starts_at = FromMillis(row[9].as<int64_t>());
    a.received_at = FromMillis(row[10].as<int64_t>());
    a.updated_at = FromMillis(row[11].as<int64_t>());
    a.deadline = OptionalTime(row[12]);
    a.escalations = row[13].as<int>();
    a.acked_at = OptionalTime(row[14]);
    a.acked_by = row[15].as<std::string>();
    a.resolved_at = OptionalTime(row[16]);
    a.version = row[17].as<int64_t>();
    out.push_back(std::move(a));
  }
  return out;
}

absl::StatusOr<std::optional<Alert>> FirstAlert(const pqxx::result& result) {
  HUT_ASSIGN_OR_RETURN(std::vector<Alert> alerts, ReadAlerts(result));
  if (alerts.empty()) return std::nullopt;
  return std::move(alerts.front());
}

// Inserts `n` (completed) unless its key is queued already; sets its id.
bool InsertNotification(pqxx::transaction_base& tx, Notification& n, const std::string& message) {
  NullableMillis delivered(n.delivered_at);
  pqxx::result r = tx.exec_params(
      "INSERT INTO notifications (message_key, environment, alert_id, channel, recipient,"
      " message, created_at, next_attempt_at, attempts, last_error, delivered_at, failed)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
      " ON CONFLICT (message_key) DO NOTHING RETURNING id",
      n.key, n.environment, n.alert_id, n.channel, n.recipient, message, ToMillis(n.created_at),
      ToMillis(n.next_attempt_at), n.attempts, n.last_error, delivered.get(), n.failed);
  if (r.empty()) return false;
  n.id = r[0][0].as<int64_t>();
  return true;
}

}  // namespace

absl::StatusOr<std::optional<Alert>> PostgresStore::GetAlert(int64_t id) {
  std::optional<Alert> out;
  HUT_RETURN_IF_ERROR(Run(absl::StrCat("get alert ", id), Mode::kRead,
                          [&](pqxx::transaction_base& tx) -> absl::Status {
                            HUT_ASSIGN_OR_RETURN(
                                out, FirstAlert(tx.exec_params("SELECT " HUT_ALERT_COLUMNS
                                                               " FROM alerts WHERE id = $1",
                                                               id)));
                            return absl::OkStatus();
                          }));
  return out;
}

absl::StatusOr<std::optional<Alert>> PostgresStore::OpenAlert(const std::string& environment,
                                                              const std::string& fingerprint) {
  std::optional<Alert> out;
  HUT_RETURN_IF_ERROR(Run(absl::StrCat("find open alert ", fingerprint), Mode::kRead,
                          [&](pqxx::transaction_base& tx) -> absl::Status {
                            HUT_ASSIGN_OR_RETURN(
                                out, FirstAlert(tx.exec_params(
                                         "SELECT " HUT_ALERT_COLUMNS " FROM alerts"
                                         " WHERE environment = $1 AND fingerprint = $2"
                                         " AND state <> 'resolved'",
                                         environment, fingerprint)));
                            return absl::OkStatus();
                          }));
  return out;
}

absl::StatusOr<std::vector<Alert>> PostgresStore::ListAlerts(const AlertQuery& query) {
  if (query.limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("postgresql: alerts limit must be at least 1, got ", query.limit));
  }
  std::vector<Alert> out;
  const std::string state = query.state ? std::string(AlertStateName(*query.state)) : "";
  NullableMillis since(query.received_since);
  HUT_RETURN_IF_ERROR(Run(
      "list alerts", Mode::kRead, [&](pqxx::transaction_base& tx) -> absl::Status {
        HUT_ASSIGN_OR_RETURN(
            out, ReadAlerts(tx.exec_params(
                     "SELECT " HUT_ALERT_COLUMNS " FROM alerts WHERE environment = $1"
                     " AND ($2 = '' OR state = $2) AND ($3::bigint IS NULL OR received_at >= $3)"
                     " ORDER BY id DESC LIMIT $4",
                     query.environment, state, since.get(), query.limit)));
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<Alert> PostgresStore::SaveAlert(Alert alert, std::vector<Notification> notifications,
                                              std::vector<Event> events) {
  if (alert.environment.empty() || alert.fingerprint.empty()) {
    return absl::InvalidArgumentError(
        "postgresql: an alert needs an environment and a fingerprint");
  }
  const std::string what = absl::StrCat("save alert ", alert.name, " (", alert.fingerprint, ")");
  HUT_ASSIGN_OR_RETURN(std::string labels, Dump(alert.labels, what));
  HUT_ASSIGN_OR_RETURN(std::string annotations, Dump(alert.annotations, what));
  std::vector<std::string> messages;
  for (Notification& n : notifications) {
    if (n.environment.empty()) n.environment = alert.environment;
    HUT_RETURN_IF_ERROR(CheckNotification(kStore, n));
    HUT_ASSIGN_OR_RETURN(messages.emplace_back(),
                         Dump(n.message, absl::StrCat("notification ", n.key)));
  }
  const TimePoint now = clock_.Now();
  CompleteAlert(now, alert);
  Alert saved;
  std::vector<Event> saved_events;
  HUT_RETURN_IF_ERROR(Run(what, Mode::kWrite, [&](pqxx::transaction_base& tx) -> absl::Status {
    saved = alert;
    NullableMillis deadline(saved.deadline), acked(saved.acked_at), resolved(saved.resolved_at);
    const std::string state(AlertStateName(saved.state));
    try {
      if (saved.id == 0) {
        saved.id = tx.exec_params(
                         "INSERT INTO alerts (environment, fingerprint, name, severity, service,"
                         " labels, annotations, state, starts_at, received_at, updated_at,"
                         " deadline, escalations, acked_at, acked_by, resolved_at, version)"
                         " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
                         " $15, $16, 1) RETURNING id",
                         saved.environment, saved.fingerprint, saved.name, saved.severity,
                         saved.service, labels, annotations, state, ToMillis(saved.starts_at),
                         ToMillis(saved.received_at), ToMillis(saved.updated_at), deadline.get(),
                         saved.escalations, acked.get(), saved.acked_by, resolved.get())[0][0]
                       .as<int64_t>();
        saved.version = 1;
      } else {
        pqxx::result updated = tx.exec_params(
            "UPDATE alerts SET name = $1, severity = $2, service = $3, labels = $4,"
            " annotations = $5, state = $6, starts_at = $7, updated_at = $8, deadline = $9,"
            " escalations = $10, acked_at = $11, acked_by = $12, resolved_at = $13,"
            " version = version + 1 WHERE id = $14 AND version = $15 RETURNING id",
            saved.name, saved.severity, saved.service, labels, annotations, state,
            ToMillis(saved.starts_at), ToMillis(saved.updated_at), deadline.get(),
            saved.escalations, acked.get(), saved.acked_by, resolved.get(), saved.id,
            saved.version);
        if (updated.empty()) {
          pqxx::result v = tx.exec_params("SELECT version FROM alerts WHERE id = $1", saved.id);
          if (v.empty()) return absl::NotFoundError(absl::StrCat("postgresql: no alert ", saved.id));
          return absl::AbortedError(absl::StrCat(
              "postgresql: alert ", saved.id, " changed since it was read (version ",
              saved.version, ", stored ", v[0][0].as<int64_t>(),
              "); nothing was written: read it again"));
        }
        ++saved.version;
      }
    } catch (const pqxx::unique_violation&) {
      return absl::AlreadyExistsError(absl::StrCat("postgresql: alert ", saved.fingerprint,
                                                   " in ", saved.environment,
                                                   " is open already"));
    }
    for (size_t i = 0; i < notifications.size(); ++i) {
      Notification n = notifications[i];
      CompleteNotification(&saved, now, n);
      InsertNotification(tx, n, messages[i]);
    }
    saved_events = events;
    for (Event& e : saved_events) CompleteAlertEvent(saved, now, e);
    HUT_ASSIGN_OR_RETURN(std::vector<std::string> texts, DumpEventData(kStore, saved_events));
    for (size_t i = 0; i < saved_events.size(); ++i) {
      HUT_RETURN_IF_ERROR(InsertEvent(tx, saved_events[i], texts[i]));
    }
    return absl::OkStatus();
  }));
  return saved;
}

absl::StatusOr<int> PostgresStore::QueueNotifications(std::vector<Notification> notifications,
                                                      std::vector<Event> events) {
  std::vector<std::string> messages;
  for (const Notification& n : notifications) {
    HUT_RETURN_IF_ERROR(CheckNotification(kStore, n));
    HUT_ASSIGN_OR_RETURN(messages.emplace_back(),
                         Dump(n.message, absl::StrCat("notification ", n.key)));
  }
  const TimePoint now = clock_.Now();
  for (Event& e : events) {
    if (e.at == TimePoint()) e.at = now;
    e.at = TruncateToMillis(e.at);
  }
  HUT_ASSIGN_OR_RETURN(std::vector<std::string> texts, DumpEventData(kStore, events));
  int added = 0;
  HUT_RETURN_IF_ERROR(Run("queue notifications", Mode::kWrite,
                          [&](pqxx::transaction_base& tx) -> absl::Status {
                            added = 0;
                            for (size_t i = 0; i < notifications.size(); ++i) {
                              Notification n = notifications[i];
                              CompleteNotification(nullptr, now, n);
                              added += InsertNotification(tx, n, messages[i]) ? 1 : 0;
                            }
                            for (size_t i = 0; i < events.size(); ++i) {
                              Event e = events[i];
                              HUT_RETURN_IF_ERROR(InsertEvent(tx, e, texts[i]));
                            }
                            return absl::OkStatus();
                          }));
  return added;
}

absl::StatusOr<std::vector<Notification>> PostgresStore::PendingNotifications(
    const std::string& environment, int limit) {
  if (limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("postgresql: notifications limit must be at least 1, got ", limit));
  }
  std::vector<Notification> out;
  HUT_RETURN_IF_ERROR(Run(
      "read pending notifications", Mode::kRead, [&](pqxx::transaction_base& tx) -> absl::Status {
        pqxx::result r = tx.exec_params(
            "SELECT " HUT_NOTIFICATION_COLUMNS " FROM notifications WHERE environment = $1"
            " AND delivered_at IS NULL AND NOT failed ORDER BY id LIMIT $2",
            environment, limit);
        out.clear();
        for (const pqxx::row& row : r) {
          Notification n;
          n.id = row[0].as<int64_t>();
          n.key = row[1].as<std::string>();
          n.environment = row[2].as<std::string>();
          n.alert_id = row[3].as<int64_t>();
          n.channel = row[4].as<std::string>();
          n.recipient = row[5].as<std::string>();
          HUT_ASSIGN_OR_RETURN(n.message, Parse(row[6].as<std::string>(),
                                                absl::StrCat("notification ", n.id)));
          n.created_at = FromMillis(row[7].as<int64_t>());
          n.next_attempt_at = FromMillis(row[8].as<int64_t>());
          n.attempts = row[9].as<int>();
          n.last_error = row[10].as<std::string>();
          n.delivered_at = OptionalTime(row[11]);
          n.failed = row[12].as<bool>();
          out.push_back(std::move(n));
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::Status PostgresStore::UpdateNotification(const Notification& n) {
  NullableMillis delivered(n.delivered_at);
  return Run(absl::StrCat("update notification ", n.id), Mode::kWrite,
             [&](pqxx::transaction_base& tx) -> absl::Status {
               pqxx::result r = tx.exec_params(
                   "UPDATE notifications SET attempts = $1, next_attempt_at = $2,"
                   " last_error = $3, delivered_at = $4, failed = $5 WHERE id = $6 RETURNING id",
                   n.attempts, ToMillis(n.next_attempt_at), n.last_error, delivered.get(),
                   n.failed, n.id);
               if (r.empty()) {
                 return absl::NotFoundError(absl::StrCat("postgresql: no notification ", n.id));
               }
               return absl::OkStatus();
             });
}

#undef HUT_ALERT_COLUMNS
#undef HUT_NOTIFICATION_COLUMNS

// ---- Leases ----

absl::StatusOr<Lease> PostgresStore::AcquireLease(std::string_view name,
                                                  std::string_view holder, Duration ttl,
                                                  TimePoint now) {
  // Refuse bad input before touching the database.
  HUT_RETURN_IF_ERROR(DecideAcquire(std::nullopt, name, holder, ttl, now).status());
  Lease lease;
  HUT_RETURN_IF_ERROR(Run(
      absl::StrCat("acquire lease ", std::string(name)), Mode::kUnfenced,
      [&](pqxx::transaction_base& tx) -> absl::Status {
        // The row exists (token 0, free) before it is locked, so two first
        // acquirers queue on the same row lock.
        tx.exec_params(
            "INSERT INTO leases (name, holder, token, expires_at) VALUES ($1, '', 0, 0)"
            " ON CONFLICT (name) DO NOTHING",
            std::string(name));
        std::optional<Lease> stored = ReadLease(
            name, tx.exec_params("SELECT holder, token, expires_at FROM leases WHERE name = $1"
                                 " FOR UPDATE",
                                 std::string(name)));
        HUT_ASSIGN_OR_RETURN(lease, DecideAcquire(stored, name, holder, ttl, now));
        tx.exec_params("UPDATE leases SET holder = $2, token = $3, expires_at = $4"
                       " WHERE name = $1",
                       lease.name, lease.holder, lease.token, ToMillis(lease.expires_at));
        return absl::OkStatus();
      }));
  return lease;
}

absl::Status PostgresStore::ReleaseLease(std::string_view name, std::string_view holder,
                                         int64_t token) {
  return Run(absl::StrCat("release lease ", std::string(name)), Mode::kUnfenced,
             [&](pqxx::transaction_base& tx) {
               tx.exec_params("UPDATE leases SET holder = '', expires_at = 0"
                              " WHERE name = $1 AND holder = $2 AND token = $3",
                              std::string(name), std::string(holder), token);
               return absl::OkStatus();
             });
}

absl::StatusOr<std::optional<Lease>> PostgresStore::GetLease(std::string_view name) {
  std::optional<Lease> out;
  HUT_RETURN_IF_ERROR(Run(absl::StrCat("read lease ", std::string(name)), Mode::kRead,
                          [&](pqxx::transaction_base& tx) {
                            // token 0: a row an acquirer made, never committed as taken.
                            out = ReadLease(name, tx.exec_params("SELECT holder, token,"
                                                                 " expires_at FROM leases"
                                                                 " WHERE name = $1 AND token > 0",
                                                                 std::string(name)));
                            return absl::OkStatus();
                          }));
  return out;
}

void PostgresStore::Fence(std::string name, int64_t token) {
  absl::MutexLock lock(&fence_mu_);
  fence_ = FenceSetting{std::move(name), token};
}

#undef HUT_REVISION_COLUMNS
#undef HUT_ROLLOUT_COLUMNS
#undef HUT_EVENT_COLUMNS

}  // namespace hut::store
