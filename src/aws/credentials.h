#ifndef HUT_AWS_CREDENTIALS_H_
#define HUT_AWS_CREDENTIALS_H_

// Where hut's AWS credentials come from, as the AWS SDKs find them: keys in
// the environment, or IRSA (EKS): a web identity token file exchanged at STS
// (AssumeRoleWithWebIdentity) for temporary credentials, exchanged again
// before they expire.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/aws/sigv4.h"

namespace hut::aws {

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // The credentials to sign a request with now. Thread-safe.
  virtual absl::StatusOr<Credentials> Get() = 0;
};

std::shared_ptr<CredentialsProvider> StaticCredentials(Credentials credentials);

struct WebIdentityOptions {
  std::string sts_endpoint;  // scheme://host[:port]
  std::string role_arn;      // AWS_ROLE_ARN
  std::string token_file;    // AWS_WEB_IDENTITY_TOKEN_FILE (read at each exchange: it is rotated)
  std::string session_name = "hut";  // AWS_ROLE_SESSION_NAME
  // Exchanged again this long before the credentials expire.
  absl::Duration refresh_before = absl::Minutes(5);
  std::function<absl::Time()> now = absl::Now;
};

class WebIdentityCredentials final : public CredentialsProvider {
 public:
  explicit WebIdentityCredentials(WebIdentityOptions options) : o_(std::move(options)) {}
  // STS's errors name the role and the call, never the token.
  absl::StatusOr<Credentials> Get() override;

 private:
  const WebIdentityOptions o_;
  absl::Mutex mu_;
  std::optional<Credentials> current_ ABSL_GUARDED_BY(mu_);
  absl::Time expires_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hut::aws

#endif  // HUT_AWS_CREDENTIALS_H_
