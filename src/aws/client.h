#ifndef HUT_AWS_CLIENT_H_
#define HUT_AWS_CLIENT_H_

// Signed requests to AWS APIs (S3, Secrets Manager, RDS…) over HTTPS, and
// where and as whom hut sends them: read from the environment the way the AWS
// SDKs and CLI read it, so an operator configures hut like any AWS tool.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/aws/credentials.h"
#include "src/aws/sigv4.h"
#include "src/http/client.h"
#include "src/http/message.h"

namespace hut::aws {

using GetEnv = std::function<std::optional<std::string>(const std::string&)>;

struct AwsConfig {
  // AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
  std::string region = "us-east-1";
  // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; else
  // IRSA's AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (credentials.h).
  std::shared_ptr<CredentialsProvider> credentials;
  // AWS_ENDPOINT_URL: every service there (a local emulator); "" : AWS's.
  std::string endpoint_url;
  GetEnv getenv;  // for AWS_ENDPOINT_URL_<SERVICE>
};

// FailedPrecondition naming the variables when no credentials are set.
// STS's endpoint for IRSA: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, or AWS's.
absl::StatusOr<AwsConfig> ConfigFromEnvironment(GetEnv getenv);

// scheme://host[:port] of a service: AWS_ENDPOINT_URL_<ENV_NAME> (e.g.
// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SECRETS_MANAGER), else
// AWS_ENDPOINT_URL, else https://<host_prefix>.<region>.amazonaws.com.
std::string EndpointFor(const AwsConfig& config, const std::string& env_name,
                        const std::string& host_prefix);

struct AwsRequest {
  std::string method = "GET";
  std::string path = "/";  // URI-encoded once
  std::vector<std::pair<std::string, std::string>> query{};  // raw
  http::Headers headers{};  // besides host, x-amz-date and Authorization
  std::string body{};
  std::chrono::milliseconds timeout{30'000};
  size_t max_body = 1 << 20;  // of the answer
};

class AwsClient {
 public:
  // `endpoint`: scheme://host[:port], no path. `service`: the signing name
  // ("s3", "secretsmanager", "rds").
  AwsClient(std::string endpoint, std::string region, std::string service,
            std::shared_ptr<CredentialsProvider> credentials,
            std::function<absl::Time()> now = absl::Now);

  // Signs and sends. Any HTTP status is a value; transport failures are
  // Unavailable or DeadlineExceeded, naming the endpoint.
  absl::StatusOr<http::ClientResponse> Send(const AwsRequest& request) const;

  const std::string& endpoint() const { return endpoint_; }

 private:
  std::string endpoint_, host_, region_, service_;
  std::shared_ptr<CredentialsProvider> credentials_;
  std::function<absl::Time()> now_;
};

// An AWS error answer as a status, "WHAT: CODE: MESSAGE (HTTP N)": S3's XML
// <Error>, or the JSON protocols' __type and message. 404 and the NoSuch*
// and *NotFound codes are NotFound; 401/403 PermissionDenied; 408, 429, 5xx
// and throttling codes Unavailable (worth a retry); other 4xx
// InvalidArgument or, for conflicts, FailedPrecondition.
absl::Status ErrorStatus(const http::ClientResponse& response, const std::string& what);

}  // namespace hut::aws

#endif  // HUT_AWS_CLIENT_H_
