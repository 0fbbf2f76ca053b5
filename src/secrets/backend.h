#ifndef HUT_SECRETS_BACKEND_H_
#define HUT_SECRETS_BACKEND_H_

// The source of truth for an environment's secrets (ADR-009: AWS Secrets
// Manager, names foohut/<env>/<secret>). A secret has versions; stage labels
// point at them as in Secrets Manager: "current" (what replicas use),
// "previous" (the one before, still valid during an overlap), "pending" (a
// rotation's new version, not yet current). A stage labels one version at a
// time; moving "current" labels the version it leaves "previous".
//
// Two implementations: LocalSecretBackend (an encrypted file in the state
// folder) and AwsSecretsManagerBackend (the real service's API). Values are
// Secret everywhere; nothing here logs or prints one.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/clock.h"
#include "src/common/secret.h"

namespace hut::secrets {

inline constexpr char kCurrent[] = "current";
inline constexpr char kPrevious[] = "previous";
inline constexpr char kPending[] = "pending";

struct VersionInfo {
  std::string id;                   // 32-64 characters
  std::vector<std::string> stages;  // sorted
  TimePoint created{};
};

struct SecretInfo {
  std::string name;
  // Oldest first: every version with a stage, and the last few without.
  std::vector<VersionInfo> versions;
};

struct SecretValue {
  std::string version_id;
  Secret value;
  std::vector<std::string> stages;
};

class SecretBackend {
 public:
  virtual ~SecretBackend() = default;
  // "local" or "aws-secrets-manager": for messages.
  virtual std::string kind() const = 0;

  // Stores `value` as version `version_id` of `name` (created when missing)
  // with `stages` (usually {current}, or {pending} for a rotation). The same
  // id with the same value again is a no-op; with another value,
  // FailedPrecondition.
  virtual absl::Status Put(const std::string& name, const std::string& version_id,
                           const Secret& value, const std::vector<std::string>& stages) = 0;
  // The version labelled `stage`, or version `version_id` when given.
  // NotFound for a secret, stage or version that is not there.
  virtual absl::StatusOr<SecretValue> Get(const std::string& name, const std::string& stage,
                                          const std::string& version_id) = 0;
  // Labels version `to` with `stage`, taking it off the version that had it.
  // `to` "" only removes it (from whichever version has it).
  virtual absl::Status MoveStage(const std::string& name, const std::string& stage,
                                 const std::string& to) = 0;
  virtual absl::StatusOr<SecretInfo> Describe(const std::string& name) = 0;
  // Every secret's name under `prefix`, sorted.
  virtual absl::StatusOr<std::vector<std::string>> List(const std::string& prefix) = 0;
};

// A new version id (32 hex characters, as Secrets Manager's tokens may be).
std::string NewVersionId();

// ADR-009's hierarchy: foohut/<environment>/<secret>.
std::string SecretName(const std::string& project, const std::string& environment,
                       const std::string& secret);

}  // namespace hut::secrets

#endif  // HUT_SECRETS_BACKEND_H_
