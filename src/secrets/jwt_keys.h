#ifndef HUT_SECRETS_JWT_KEYS_H_
#define HUT_SECRETS_JWT_KEYS_H_

// The environment's JWT signing keys, as foohut-api reads them
// (FOOHUT_JWT_KEYS_FILE): {"active_kid": KID, "keys": {KID: base64 key}}.

#include <string>

#include "absl/status/status.h"
#include "src/common/clock.h"
#include "src/common/secret.h"

namespace hut::secrets {

// A new key set: one random 256-bit key, kid "hut-<unix seconds>".
Secret NewJwtKeySet(const Clock& clock);

// Writes a new key set at `path`, mode 0600, unless a file is there already.
absl::Status EnsureJwtKeys(const std::string& path, const Clock& clock);

}  // namespace hut::secrets

#endif  // HUT_SECRETS_JWT_KEYS_H_
