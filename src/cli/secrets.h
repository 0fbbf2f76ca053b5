#ifndef HUT_CLI_SECRETS_H_
#define HUT_CLI_SECRETS_H_

// `hut secrets list|get|set|history|rotate` (docs/secrets.md): an environment's
// secrets in its backend, by short name (database, jwt,
// third-party-api-keys). Values are never on the command line: `set` reads
// one from stdin or a file; `get` shows metadata, and the value only with
// --reveal, which the server records.

#include <string>

#include "src/cli/cli.h"

namespace hut::cli {

struct SecretsOptions {
  std::string environment;
  std::string name;  // get, set, history
  bool reveal = false;  // get
  std::string file;     // set: read the value from here; "" : stdin
  std::string by;       // default: $USER
  bool json = false;
};

int RunSecretsList(const SecretsOptions& o, const Io& io);
int RunSecretsGet(const SecretsOptions& o, const Io& io);
int RunSecretsSet(const SecretsOptions& o, const Io& io);
int RunSecretsHistory(const SecretsOptions& o, const Io& io);
int RunSecretsRotate(const SecretsOptions& o, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_SECRETS_H_
