#ifndef HUT_APPS_FOOHUT_API_PG_STORE_H_
#define HUT_APPS_FOOHUT_API_PG_STORE_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <pqxx/connection>  // a typedef in libpqxx 6: cannot be forward-declared
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "apps/foohut-api/db_login.h"
#include "apps/foohut-api/store.h"
#include "src/common/log.h"
#include "src/common/secret.h"

namespace hut::foohut {

struct PgStoreOptions {
  int pool_size = 8;  // connections at most; pqxx::connection is not thread-safe
  std::chrono::seconds connect_timeout{2};
  std::chrono::milliseconds statement_timeout{5000};
  std::chrono::milliseconds acquire_timeout{5000};  // waiting for a free connection
};

// Store on PostgreSQL (libpqxx 6). Connections are opened lazily, pooled, and
// dropped when broken, so the store recovers by itself once the database is
// back. An operation that meets a broken connection is retried once on a
// fresh one: a transaction cut off before its commit was rolled back, so the
// retry cannot apply a write twice (a commit whose outcome is unknown is an
// Internal error, never retried). A new login (UseLogin, after a credential
// rotation) is used by every connection opened from then on; the ones
// opened before are closed as they come back to the pool, so none is cut
// off mid-request. Thread-safe.
class PgStore final : public Store {
 public:
  PgStore(Secret database_url, Logger logger, PgStoreOptions options = {});
  ~PgStore() override;

  absl::StatusOr<User> CreateUser(std::string_view email, std::string_view password_hash) override;
  absl::StatusOr<User> FindUserByEmail(std::string_view email) override;
  absl::StatusOr<CreatedPage> CreatePage(int64_t owner_id, std::string_view title,
                                  std::string_view body) override;
  absl::StatusOr<Page> GetPage(int64_t id) override;
  absl::StatusOr<std::vector<Page>> SearchPages(std::string_view query, int limit) override;
  // Uses a connection of its own, so a busy pool does not make it fail.
  absl::Status Ping() override;

  // Connects as `login` from now on (see db_login.h); drains the rest.
  void UseLogin(const DatabaseLogin& login);
  // Connections open now (idle and leased) that an older login opened.
  int OldConnections();

 private:
  using Work = std::function<absl::Status(pqxx::connection&)>;
  // A connection and the login generation that opened it.
  struct Pooled {
    std::unique_ptr<pqxx::connection> conn;
    uint64_t login = 0;
  };
  // Runs `work` in a pooled connection, mapping exceptions to statuses.
  absl::Status Run(std::string_view what, const Work& work);
  void DropIdle();
  absl::StatusOr<Pooled> Acquire();
  // Back to the pool, or closed when broken or opened by an older login.
  void Release(Pooled pooled, bool reusable = true);
  // A new connection with the current login, and that login's generation.
  Pooled Connect();

  const Secret base_url_;  // with connect_timeout and statement_timeout added
  Logger logger_;
  const PgStoreOptions options_;

  absl::Mutex mu_;
  Secret url_ ABSL_GUARDED_BY(mu_);  // base_url_ with the current login
  uint64_t login_ ABSL_GUARDED_BY(mu_) = 0;  // its generation
  std::vector<Pooled> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + leased
  std::map<uint64_t, int> open_by_login_ ABSL_GUARDED_BY(mu_);

  absl::Mutex ping_mu_;
  Pooled ping_ ABSL_GUARDED_BY(ping_mu_);
};

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_PG_STORE_H_
