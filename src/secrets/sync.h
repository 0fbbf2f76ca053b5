#ifndef HUT_SECRETS_SYNC_H_
#define HUT_SECRETS_SYNC_H_

// Secrets from the backend into what the runtime hands replicas.

#include <string>

#include "absl/status/status.h"
#include "src/secrets/service.h"

namespace hut::secrets {

// The environment's JWT key set lives in the backend under the name jwt; `file` (what
// the local runtime copies into each replica's folder) is written from its
// current version when it differs. A key file from before the backend held
// it is imported as the first version; with neither, a new key set is made.
absl::Status SyncJwtKeys(SecretsService& secrets, const std::string& file, const Clock& clock);

}  // namespace hut::secrets

#endif  // HUT_SECRETS_SYNC_H_
