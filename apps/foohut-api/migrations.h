#ifndef HUT_APPS_FOOHUT_API_MIGRATIONS_H_
#define HUT_APPS_FOOHUT_API_MIGRATIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/log.h"
#include "src/common/secret.h"

namespace hut::foohut {

// One reversible schema change. `down` undoes `up` exactly.
struct Migration {
  int version;  // 1, 2, 3...: strictly increasing, never reused
  std::string name;
  std::string up;
  std::string down;
};

// The embedded migrations, oldest first.
std::vector<Migration> AllMigrations();

struct MigrationState {
  int version;
  std::string name;
  bool applied;
  std::string applied_at;  // RFC 3339 when applied
};

// Applies and reverts AllMigrations() on a PostgreSQL database. Each migration
// runs in its own transaction together with its schema_migrations row, under a
// transaction-level advisory lock, so two replicas migrating at once do each
// step once. Every call is safe to repeat. Not thread-safe.
class Migrator {
 public:
  Migrator(Secret database_url, Logger logger)
      : database_url_(std::move(database_url)), logger_(std::move(logger)) {}

  // Applies up to `count` pending migrations (all when nullopt), oldest first.
  // Returns how many were applied.
  absl::StatusOr<int> Up(std::optional<int> count = std::nullopt);
  // Reverts the `count` newest applied migrations. Returns how many.
  absl::StatusOr<int> Down(int count = 1);
  absl::StatusOr<std::vector<MigrationState>> Status();

 private:
  Secret database_url_;
  Logger logger_;
};

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_MIGRATIONS_H_
