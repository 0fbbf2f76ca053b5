#ifndef HUT_SECRETS_SERVICE_H_
#define HUT_SECRETS_SERVICE_H_

// An environment's secrets as operators and the control plane use them: by
// short name ("database", "jwt", "third-party-api-keys") under ADR-009's
// hierarchy <project>/<environment>/<name> in the environment's backend.
// Setting or revealing a value is recorded as an event (who, which version;
// never the value).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/clock.h"
#include "src/secrets/backend.h"
#include "src/store/store.h"

namespace hut::secrets {

// The secrets ADR-009 names, synced into every runtime.
inline constexpr const char* kDatabaseSecret = "database";  // pragma: allowlist secret (a secret's name)
inline constexpr const char* kJwtSecret = "jwt";  // pragma: allowlist secret (a secret's name)
inline constexpr const char* kApiKeysSecret = "third-party-api-keys";  // pragma: allowlist secret (a secret's name)

struct SecretsServiceOptions {
  std::string project;      // the spec's, "foohut"
  std::string environment;
  SecretBackend* backend = nullptr;
  store::Store* store = nullptr;  // for the events
  const Clock* clock = nullptr;
};

class SecretsService {
 public:
  explicit SecretsService(SecretsServiceOptions options) : o_(std::move(options)) {}

  SecretBackend& backend() const { return *o_.backend; }
  // project/environment/name; InvalidArgument for a name that is not
  // lowercase letters, digits and '-'.
  absl::StatusOr<std::string> FullName(const std::string& name) const;

  // Every secret of the environment, with its versions (no values).
  absl::StatusOr<std::vector<SecretInfo>> List();
  absl::StatusOr<SecretInfo> Describe(const std::string& name);
  // The current value, recorded as `secret.revealed` by `by`.
  absl::StatusOr<SecretValue> Reveal(const std::string& name, const std::string& by);
  // A new current version (the old one previous), recorded as `secret.set`;
  // its version id.
  absl::StatusOr<std::string> Set(const std::string& name, const Secret& value,
                                  const std::string& by);
  // The current value, unrecorded: for the control plane's own use (syncing
  // it into the runtime).
  absl::StatusOr<SecretValue> Current(const std::string& name);

  // An event of the environment (secret.*); never give it a value.
  absl::Status Record(const std::string& type, const std::string& message, nlohmann::json data);

 private:
  SecretsServiceOptions o_;
};

}  // namespace hut::secrets

#endif  // HUT_SECRETS_SERVICE_H_
