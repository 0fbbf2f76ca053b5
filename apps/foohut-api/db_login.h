#ifndef HUT_APPS_FOOHUT_API_DB_LOGIN_H_
#define HUT_APPS_FOOHUT_API_DB_LOGIN_H_

// Who foohut-api logs in to PostgreSQL as, from FOOHUT_DATABASE_CREDENTIALS_FILE:
// the JSON of the environment's database secret ({"username", "password",
// ...}: Secrets Manager's shape for database credentials), which hut rewrites
// when it rotates them.

#include <string>

#include "absl/status/statusor.h"
#include "src/common/secret.h"

namespace hut::foohut {

struct DatabaseLogin {
  std::string username;
  Secret password;
};

// InvalidArgument naming the missing or bad field; never quotes a value.
absl::StatusOr<DatabaseLogin> ParseDatabaseLogin(const Secret& json);
absl::StatusOr<DatabaseLogin> LoadDatabaseLogin(const std::string& path);

// `url` (a libpq URI) with `login` as its user and password parameters,
// which win over the URI's own user and passfile.
Secret WithLogin(const Secret& url, const DatabaseLogin& login);

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_DB_LOGIN_H_
