#include "apps/foohut-api/pg_store.h"

#include <pqxx/pqxx>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "apps/foohut-api/strings.h"

namespace hut::foohut {
namespace {

constexpr const char* kPageColumns =
    "id, owner_id, title, body, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

Page PageFromRow(const pqxx::row& row) {
  Page p;
  p.id = row[0].as<int64_t>();
  p.owner_id = row[1].as<int64_t>();
  p.title = row[2].as<std::string>();
  p.body = row[3].as<std::string>();
  p.created_at = row[4].as<std::string>();
  return p;
}

// Adds libpq parameters to a URI unless the operator set them already.
std::string WithParams(std::string url, const PgStoreOptions& o) {
  auto add = [&url](std::string_view key, const std::string& value) {
    if (url.find(std::string(key) + "=") != std::string::npos) return;
    url += (url.find('?') == std::string::npos ? "?" : "&");
    absl::StrAppend(&url, Absl(key), "=", value);
  };
  add("connect_timeout", std::to_string(std::max<int64_t>(1, o.connect_timeout.count())));
  // "-c statement_timeout=N", percent-encoded for the URI.
  add("options", absl::StrCat("-c%20statement_timeout%3D", o.statement_timeout.count()));
  add("application_name", "foohut-api");
  return url;
}

}  // namespace

PgStore::PgStore(Secret database_url, Logger logger, PgStoreOptions options)
    : base_url_(WithParams(database_url.Reveal(), options)),
      logger_(std::move(logger)),
      options_(options),
      url_(base_url_) {}

PgStore::~PgStore() = default;

void PgStore::UseLogin(const DatabaseLogin& login) {
  std::vector<Pooled> stale;
  {
    absl::MutexLock lock(&mu_);
    url_ = WithLogin(base_url_, login);
    ++login_;
    stale.swap(idle_);
    open_ -= static_cast<int>(stale.size());
    for (const Pooled& p : stale) --open_by_login_[p.login];
  }
  logger_.Info("database login changed; older connections close as they finish",
               {{"user", login.username}, {"closed_idle", static_cast<int64_t>(stale.size())}});
}

int PgStore::OldConnections() {
  absl::MutexLock lock(&mu_);
  int old = 0;
  for (const auto& [login, n] : open_by_login_) old += login == login_ ? 0 : n;
  return old;
}

PgStore::Pooled PgStore::Connect() {
  Secret url;
  uint64_t login = 0;
  {
    absl::MutexLock lock(&mu_);
    url = url_;
    login = login_;
  }
  return {std::make_unique<pqxx::connection>(url.Reveal()), login};
}

absl::StatusOr<PgStore::Pooled> PgStore::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.pool_size;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&free),
                              absl::FromChrono(options_.acquire_timeout))) {
      return absl::UnavailableError("database: no free connection in time");
    }
    if (!idle_.empty()) {
      Pooled p = std::move(idle_.back());
      idle_.pop_back();
      return p;
    }
    ++open_;
  }
  try {
    Pooled p = Connect();
    absl::MutexLock lock(&mu_);
    ++open_by_login_[p.login];
    return p;
  } catch (const std::exception& e) {
    absl::MutexLock lock(&mu_);
    --open_;
    return absl::UnavailableError(absl::StrCat("database unreachable: ", e.what()));
  }
}

void PgStore::Release(Pooled pooled, bool reusable) {
  Pooled closing;  // closed outside the lock
  absl::MutexLock lock(&mu_);
  if (reusable && pooled.conn->is_open() && pooled.login == login_) {
    idle_.push_back(std::move(pooled));
    return;
  }
  --open_;
  --open_by_login_[pooled.login];
  closing = std::move(pooled);
}

void PgStore::DropIdle() {
  std::vector<Pooled> stale;
  {
    absl::MutexLock lock(&mu_);
    stale.swap(idle_);
    open_ -= static_cast<int>(stale.size());
    for (const Pooled& p : stale) --open_by_login_[p.login];
  }
}

absl::Status PgStore::Run(std::string_view what, const Work& work) {
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<Pooled> conn = Acquire();
    if (!conn.ok()) return conn.status();
    absl::Status status;
    bool broken = false;
    try {
      status = work(*conn->conn);
    } catch (const pqxx::broken_connection& e) {
      broken = true;
      status = absl::UnavailableError(absl::StrCat(Absl(what), ": database connection lost"));
    } catch (const pqxx::unique_violation& e) {
      status = absl::AlreadyExistsError(absl::StrCat(Absl(what), ": already exists"));
    } catch (const pqxx::sql_error& e) {
      status = absl::InternalError(absl::StrCat(Absl(what), ": ", e.what()));
    } catch (const std::exception& e) {
      status = absl::InternalError(absl::StrCat(Absl(what), ": ", e.what()));
    }
    if (broken) {
      Release(std::move(*conn), false);
      DropIdle();  // the server went away: the idle ones are stale too
      if (attempt == 0) continue;
      return status;
    }
    Release(std::move(*conn));
    return status;
  }
}

absl::StatusOr<User> PgStore::CreateUser(std::string_view email, std::string_view password_hash) {
  User user;
  absl::Status s = Run("create user", [&](pqxx::connection& c) {
    pqxx::work txn(c);
    pqxx::result r =
        txn.exec_params("INSERT INTO users (email, password_hash) VALUES ($1, $2) RETURNING id",
                        std::string(email), std::string(password_hash));
    txn.commit();
    user.id = r[0][0].as<int64_t>();
    user.email = std::string(email);
    user.password_hash = std::string(password_hash);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return user;
}

absl::StatusOr<User> PgStore::FindUserByEmail(std::string_view email) {
  User user;
  absl::Status s = Run("find user", [&](pqxx::connection& c) {
    pqxx::read_transaction txn(c);
    pqxx::result r = txn.exec_params("SELECT id, email, password_hash FROM users WHERE email = $1",
                                     std::string(email));
    if (r.empty()) return absl::NotFoundError("no such user");
    user.id = r[0][0].as<int64_t>();
    user.email = r[0][1].as<std::string>();
    user.password_hash = r[0][2].as<std::string>();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return user;
}

absl::StatusOr<CreatedPage> PgStore::CreatePage(int64_t owner_id, std::string_view title,
                                                std::string_view body) {
  CreatedPage created;
  absl::Status s = Run("create page", [&](pqxx::connection& c) {
    pqxx::work txn(c);
    // The owner's row lock orders their page creations, so that exactly one
    // of them is the first.
    txn.exec_params("SELECT id FROM users WHERE id = $1 FOR UPDATE", owner_id);
    pqxx::result r = txn.exec_params(
        absl::StrCat("INSERT INTO pages (owner_id, title, body) VALUES ($1, $2, $3) RETURNING ",
                     kPageColumns),
        owner_id, std::string(title), std::string(body));
    pqxx::result n = txn.exec_params("SELECT count(*) FROM pages WHERE owner_id = $1", owner_id);
    txn.commit();
    created.page = PageFromRow(r[0]);
    created.owners_first = n[0][0].as<int64_t>() == 1;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return created;
}

absl::StatusOr<Page> PgStore::GetPage(int64_t id) {
  Page page;
  absl::Status s = Run("get page", [&](pqxx::connection& c) {
    pqxx::read_transaction txn(c);
    pqxx::result r =
        txn.exec_params(absl::StrCat("SELECT ", kPageColumns, " FROM pages WHERE id = $1"), id);
    if (r.empty()) return absl::NotFoundError("no such page");
    page = PageFromRow(r[0]);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<std::vector<Page>> PgStore::SearchPages(std::string_view query, int limit) {
  std::vector<Page> pages;
  absl::Status s = Run("search pages", [&](pqxx::connection& c) {
    pqxx::read_transaction txn(c);
    pqxx::result r = txn.exec_params(
        absl::StrCat("SELECT ", kPageColumns,
                     " FROM pages, plainto_tsquery('english', $1) AS q WHERE search @@ q"
                     " ORDER BY ts_rank(search, q) DESC, id DESC LIMIT $2"),
        std::string(query), limit);
    pages.clear();
    for (const auto& row : r) pages.push_back(PageFromRow(row));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return pages;
}

absl::Status PgStore::Ping() {
  absl::MutexLock lock(&ping_mu_);
  try {
    bool stale = false;
    if (ping_.conn != nullptr) {
      absl::MutexLock pool(&mu_);
      stale = ping_.login != login_;
    }
    if (ping_.conn == nullptr || !ping_.conn->is_open() || stale) ping_ = Connect();
    pqxx::nontransaction txn(*ping_.conn);
    txn.exec("SELECT 1");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    ping_.conn.reset();
    return absl::UnavailableError(absl::StrCat("postgres: ", e.what()));
  }
}

}  // namespace hut::foohut
