#include "apps/foohut-api/migrations.h"

#include <map>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "apps/foohut-api/strings.h"

namespace hut::foohut {
namespace {

// Serialises migrators across processes (arbitrary constant: "hut-mig").
constexpr int64_t kAdvisoryLockKey = 0x6875742d6d6967;

constexpr const char* kCreateTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";

// Versions applied, with their time, read inside `txn`.
std::map<int, std::string> Applied(pqxx::transaction_base& txn) {
  std::map<int, std::string> out;
  pqxx::result r = txn.exec(
      "SELECT version, to_char(applied_at AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_migrations ORDER BY version");
  for (const auto& row : r) out[row[0].as<int>()] = row[1].as<std::string>();
  return out;
}

std::unique_ptr<pqxx::connection> Connect(const Secret& url) {
  auto conn = std::make_unique<pqxx::connection>(url.Reveal());
  // Quieter: "relation already exists, skipping" notices are expected.
  conn->set_variable("client_min_messages", "warning");
  return conn;
}

// A connection on which schema_migrations exists (created under the lock).
std::unique_ptr<pqxx::connection> ConnectWithTable(const Secret& url) {
  auto conn = Connect(url);
  pqxx::work txn(*conn);
  txn.exec_params("SELECT pg_advisory_xact_lock($1)", kAdvisoryLockKey);
  txn.exec(kCreateTable);
  txn.commit();
  return conn;
}

absl::Status Wrap(std::string_view what, const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat(Absl(what), ": database unreachable: ", e.what()));
  }
  return absl::InternalError(absl::StrCat(Absl(what), ": ", e.what()));
}

}  // namespace

std::vector<Migration> AllMigrations() {
  return {
      {1, "create_users",
       R"sql(
CREATE TABLE users (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
))sql",
       "DROP TABLE users"},
      {2, "create_pages",
       R"sql(
CREATE TABLE pages (
  id bigserial PRIMARY KEY,
  owner_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', title), 'A') ||
    setweight(to_tsvector('english', body), 'B')) STORED
);
CREATE INDEX pages_search_idx ON pages USING GIN (search))sql",
       "DROP TABLE pages"},
      {3, "index_pages_owner",
       "CREATE INDEX pages_owner_created_idx ON pages (owner_id, created_at DESC)",
       "DROP INDEX pages_owner_created_idx"},
  };
}

absl::StatusOr<int> Migrator::Up(std::optional<int> count) {
  if (count && *count < 0) return absl::InvalidArgumentError("count must not be negative");
  int done = 0;
  try {
    auto conn = ConnectWithTable(database_url_);
    for (const Migration& m : AllMigrations()) {
      if (count && done >= *count) break;
      pqxx::work txn(*conn);
      txn.exec_params("SELECT pg_advisory_xact_lock($1)", kAdvisoryLockKey);
      if (Applied(txn).contains(m.version)) continue;  // another migrator, or earlier run
      txn.exec(m.up);
      txn.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                      m.name);
      txn.commit();
      ++done;
      logger_.Info("migration applied", {{"version", m.version}, {"name", m.name}});
    }
  } catch (const std::exception& e) {
    return Wrap("migrate up", e);
  }
  return done;
}

absl::StatusOr<int> Migrator::Down(int count) {
  if (count < 0) return absl::InvalidArgumentError("count must not be negative");
  std::vector<Migration> all = AllMigrations();
  int done = 0;
  try {
    auto conn = ConnectWithTable(database_url_);
    while (done < count) {
      pqxx::work txn(*conn);
      txn.exec_params("SELECT pg_advisory_xact_lock($1)", kAdvisoryLockKey);
      std::map<int, std::string> applied = Applied(txn);
      if (applied.empty()) break;
      const int newest = applied.rbegin()->first;
      const Migration* m = nullptr;
      for (const Migration& candidate : all) {
        if (candidate.version == newest) m = &candidate;
      }
      if (m == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat(
            "migration ", newest, " is applied but unknown to this binary (newer release?)"));
      }
      txn.exec(m->down);
      txn.exec_params("DELETE FROM schema_migrations WHERE version = $1", m->version);
      txn.commit();
      ++done;
      logger_.Info("migration reverted", {{"version", m->version}, {"name", m->name}});
    }
  } catch (const std::exception& e) {
    return Wrap("migrate down", e);
  }
  return done;
}

absl::StatusOr<std::vector<MigrationState>> Migrator::Status() {
  std::vector<MigrationState> out;
  try {
    auto conn = Connect(database_url_);
    pqxx::work txn(*conn);
    txn.exec_params("SELECT pg_advisory_xact_lock($1)", kAdvisoryLockKey);
    txn.exec(kCreateTable);
    std::map<int, std::string> applied = Applied(txn);
    txn.commit();
    for (const Migration& m : AllMigrations()) {
      auto it = applied.find(m.version);
      out.push_back(
          {m.version, m.name, it != applied.end(), it != applied.end() ? it->second : ""});
    }
  } catch (const std::exception& e) {
    return Wrap("migrate status", e);
  }
  return out;
}

}  // namespace hut::foohut
