#ifndef HUT_SECRETS_SYNC_H_
#define HUT_SECRETS_SYNC_H_

// Secrets from the backend into what the runtime hands replicas.

#include <string>

#include "absl/status/status.h"
#include "src/secrets/database_rotation.h"
#include "src/secrets/service.h"

namespace hut::secrets {

// The environment's JWT key set lives in the backend under the name jwt; `file` (what
// the local runtime copies into each replica's folder) is written from its
// current version when it differs. A key file from before the backend held
// it is imported as the first version; with neither, a new key set is made.
absl::Status SyncJwtKeys(SecretsService& secrets, const std::string& file, const Clock& clock);

// The environment's database credentials live in the backend under the name
// database ({"engine", "dbname", "username", "password"}). From its current
// version, `password_file` (the local PostgreSQL's libpq password file
// "*:*:*:USER:PASSWORD": the login it sets at start) and `credentials_file`
// (the JSON every replica gets) are written when they differ. With no
// version yet, an existing password file is imported as the first; with
// neither, nothing is done (the server makes the password file at its first
// start: call again after it).
// Writes database `credentials` (the secret's JSON) to `credentials_file`
// and its login to the server's `password_file`, each unless it holds them.
absl::Status WriteDatabaseCredentials(const Secret& credentials, const std::string& password_file,
                                      const std::string& credentials_file);

absl::Status SyncDatabaseCredentials(SecretsService& secrets, const std::string& password_file,
                                     const std::string& credentials_file,
                                     const std::string& dbname);

}  // namespace hut::secrets

#endif  // HUT_SECRETS_SYNC_H_
