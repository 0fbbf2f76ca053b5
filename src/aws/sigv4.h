#ifndef HUT_AWS_SIGV4_H_
#define HUT_AWS_SIGV4_H_

// AWS Signature Version 4: how every request to an AWS API proves who sends
// it (docs.aws.amazon.com, "Signature Version 4 signing process"). The
// canonical request, the string to sign, the signing key derived from the
// secret key, date, region and service, and the Authorization header.
// HMAC-SHA256 and SHA-256 from libsodium.

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "src/common/secret.h"

namespace hut::aws {

struct Credentials {
  std::string access_key_id;
  Secret secret_access_key;
  std::string session_token;  // temporary credentials (STS, IRSA); "" : none
};

// What is signed of a request.
struct CanonicalInput {
  std::string method;  // GET, PUT, POST, DELETE
  std::string path;    // URI-encoded once ("/bucket/logs/a%20b"); "" is "/"
  std::vector<std::pair<std::string, std::string>> query;  // raw names and values
  // Header names in lowercase; `host` among them. Values as sent.
  std::map<std::string, std::string> headers;
  std::string payload_sha256;  // hex; S3 also sends it as x-amz-content-sha256
};

// Adds x-amz-date (and x-amz-security-token for temporary credentials) to
// `request.headers`, signs every header in it, and returns the Authorization
// header's value.
std::string Sign(CanonicalInput& request, const Credentials& credentials,
                 const std::string& region, const std::string& service, absl::Time now);

// The steps, for tests against AWS's published vectors.
std::string CanonicalRequest(const CanonicalInput& request);
std::string StringToSign(const std::string& canonical_request, absl::Time now,
                         const std::string& scope);

std::string Sha256Hex(std::string_view data);

}  // namespace hut::aws

#endif  // HUT_AWS_SIGV4_H_
