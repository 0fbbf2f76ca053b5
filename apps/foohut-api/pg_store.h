#ifndef HUT_APPS_FOOHUT_API_PG_STORE_H_
#define HUT_APPS_FOOHUT_API_PG_STORE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <pqxx/connection>  // a typedef in libpqxx 6: cannot be forward-declared
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
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
// Internal error, never retried). Thread-safe.
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

 private:
  using Work = std::function<absl::Status(pqxx::connection&)>;
  // Runs `work` in a pooled connection, mapping exceptions to statuses.
  absl::Status Run(std::string_view what, const Work& work);
  void DropIdle();
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire();
  void Release(std::unique_ptr<pqxx::connection> conn);
  std::unique_ptr<pqxx::connection> Connect();

  const std::string url_;  // with connect_timeout and statement_timeout added
  Logger logger_;
  const PgStoreOptions options_;

  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + leased

  absl::Mutex ping_mu_;
  std::unique_ptr<pqxx::connection> ping_conn_ ABSL_GUARDED_BY(ping_mu_);
};

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_PG_STORE_H_
