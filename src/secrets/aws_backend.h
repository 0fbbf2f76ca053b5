#ifndef HUT_SECRETS_AWS_BACKEND_H_
#define HUT_SECRETS_AWS_BACKEND_H_

// The SecretBackend on AWS Secrets Manager, through its JSON API signed with
// SigV4 (src/aws): CreateSecret, PutSecretValue, GetSecretValue,
// UpdateSecretVersionStage, ListSecretVersionIds, ListSecrets. hut's stages
// are Secrets Manager's: current = AWSCURRENT, previous = AWSPREVIOUS,
// pending = AWSPENDING; Secrets Manager moves AWSPREVIOUS itself as hut's
// local backend does.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/aws/client.h"
#include "src/secrets/backend.h"

namespace hut::secrets {

class AwsSecretsManagerBackend final : public SecretBackend {
 public:
  // The endpoint from AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL or
  // AWS's (aws/client.h).
  explicit AwsSecretsManagerBackend(const aws::AwsConfig& config);

  std::string kind() const override { return "aws-secrets-manager"; }
  absl::Status Put(const std::string& name, const std::string& version_id, const Secret& value,
                   const std::vector<std::string>& stages) override;
  absl::StatusOr<SecretValue> Get(const std::string& name, const std::string& stage,
                                  const std::string& version_id) override;
  absl::Status MoveStage(const std::string& name, const std::string& stage,
                         const std::string& to) override;
  absl::StatusOr<SecretInfo> Describe(const std::string& name) override;
  absl::StatusOr<std::vector<std::string>> List(const std::string& prefix) override;

 private:
  // One API call: its JSON answer, or the service's error as a status whose
  // message names the call and the secret (never a value).
  absl::StatusOr<nlohmann::json> Call(const std::string& operation, const nlohmann::json& request,
                                      const std::string& about) const;
  aws::AwsClient client_;
};

}  // namespace hut::secrets

#endif  // HUT_SECRETS_AWS_BACKEND_H_
