#ifndef HUT_LOCAL_POSTGRES_LOGINS_H_
#define HUT_LOCAL_POSTGRES_LOGINS_H_

// The application's logins on a local PostgreSQL, managed as its superuser
// through the Unix socket in the data folder (peer authentication as the
// "postgres" OS user): what a credential rotation does to the database
// (secrets::DatabaseUsers). Usable from any process that can reach the
// socket, not only the one that started the server.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/secret.h"
#include "src/secrets/database_rotation.h"

namespace hut::local {

// Role names hut makes or accepts (lowercase letters, digits, '_'): nothing to quote.
bool ValidRoleName(std::string_view name);

// initdb, postgres and the superuser's psql refuse root: as root, `argv` run
// as the "postgres" user (and killed with its parent).
std::vector<std::string> AsPostgresUser(std::vector<std::string> argv);

struct PostgresAddress {
  std::string bin_dir;     // psql's folder
  std::string socket_dir;  // the data folder
  uint16_t port = 5432;
  std::string database;
  std::string owner;  // the application's role, owner of `database`
};

class PostgresLogins final : public secrets::DatabaseUsers {
 public:
  explicit PostgresLogins(PostgresAddress address) : a_(std::move(address)) {}

  // psql as the superuser on `database` (default "postgres": roles and
  // sessions are the cluster's, and it exists before the application's). `env`
  // reaches psql only: a password passed this way (\getenv in `script`)
  // never shows in a command line.
  absl::Status Sql(const std::vector<std::string>& commands, std::string* output = nullptr,
                   const std::string& database = "",
                   const std::map<std::string, std::string>& env = {},
                   const std::string& script = "");

  // `user` may log in with `password` from now on. A user other than the
  // owner is created when missing as a member of it that acts as it (SET
  // role), so what it creates (a migration's tables) belongs to the owner
  // and either login can use it.
  absl::Status SetPassword(const std::string& user, const Secret& password) override;
  // A login for monitoring (pg_monitor's rights, nothing of the
  // application's), created when missing: the exporter's, never rotated
  // with the application's.
  absl::Status SetMonitorPassword(const std::string& user, const Secret& password);
  // Over TCP with psql, as the application would log in: PermissionDenied
  // with PostgreSQL's reason when refused.
  absl::Status TryLogin(const std::string& user, const Secret& password) override;
  // NOLOGIN and no password; its sessions are terminated.
  absl::Status Disable(const std::string& user) override;
  absl::StatusOr<int> Sessions(const std::string& user) override;

 private:
  absl::Status SetRolePassword(const std::string& user, const Secret& password);
  const PostgresAddress a_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_POSTGRES_LOGINS_H_
