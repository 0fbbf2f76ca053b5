#include "src/aws/sigv4.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hut::aws {
namespace {

using ::testing::HasSubstr;

constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";  // pragma: allowlist secret (SHA-256 of nothing)

absl::Time At(int y, int mo, int d, int h, int mi, int sec) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, sec), absl::UTCTimeZone());
}

// AWS's Signature Version 4 test suite, get-vanilla: its canonical request's
// hash (get-vanilla.sts) and its Authorization header (get-vanilla.authz).
TEST(SigV4Test, SignsGetVanillaAsAwsPublishedIt) {
  CanonicalInput r{.method = "GET", .path = "/", .query = {},
                   .headers = {{"host", "example.amazonaws.com"}},
                   .payload_sha256 = kEmptySha256};
  const Credentials c{.access_key_id = "AKIDEXAMPLE",
                      .secret_access_key = Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                      .session_token = ""};
  const std::string authorization = Sign(r, c, "us-east-1", "service", At(2015, 8, 30, 12, 36, 0));
  EXPECT_EQ(r.headers["x-amz-date"], "20150830T123600Z");
  EXPECT_EQ(Sha256Hex(CanonicalRequest(r)),
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");  // pragma: allowlist secret (AWS's published vector)
  EXPECT_EQ(authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

// S3's own example ("Authenticating Requests: Using the Authorization
// Header", GET Object): a range, the payload hash header, path-style key.
TEST(SigV4Test, SignsS3sGetObjectExampleAsAwsPublishedIt) {
  CanonicalInput r{.method = "GET", .path = "/test.txt", .query = {},
                   .headers = {{"host", "examplebucket.s3.amazonaws.com"},
                               {"range", "bytes=0-9"},
                               {"x-amz-content-sha256", kEmptySha256}},
                   .payload_sha256 = kEmptySha256};
  const Credentials c{.access_key_id = "AKIAIOSFODNN7EXAMPLE",  // pragma: allowlist secret (AWS's published example key)
                      .secret_access_key = Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                      .session_token = ""};
  EXPECT_EQ(Sign(r, c, "us-east-1", "s3", At(2013, 5, 24, 0, 0, 0)),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "  // pragma: allowlist secret (AWS's published example key)
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, TheQueryIsEncodedAndSortedAndHeadersTrimmed) {
  CanonicalInput r{.method = "GET", .path = "/",
                   .query = {{"prefix", "logs/a b"}, {"list-type", "2"}, {"a", ""}},
                   .headers = {{"Host", "h"}, {"X-Amz-Meta-Note", "  two   spaces "}},
                   .payload_sha256 = kEmptySha256};
  EXPECT_EQ(CanonicalRequest(r),
            "GET\n/\na=&list-type=2&prefix=logs%2Fa%20b\nhost:h\nx-amz-meta-note:two spaces\n\n"
            "host;x-amz-meta-note\n" + std::string(kEmptySha256));
}

TEST(SigV4Test, TemporaryCredentialsSignTheirSessionToken) {
  CanonicalInput r{.method = "GET", .path = "/", .query = {}, .headers = {{"host", "h"}},
                   .payload_sha256 = kEmptySha256};
  const Credentials c{.access_key_id = "ASIA", .secret_access_key = Secret("s"),
                      .session_token = "T0KEN"};
  EXPECT_THAT(Sign(r, c, "eu-west-1", "secretsmanager", At(2026, 12, 7, 0, 0, 0)),
              HasSubstr("SignedHeaders=host;x-amz-date;x-amz-security-token,"));
  EXPECT_EQ(r.headers["x-amz-security-token"], "T0KEN");
}

TEST(SigV4Test, Sha256OfNothing) { EXPECT_EQ(Sha256Hex(""), kEmptySha256); }

}  // namespace
}  // namespace hut::aws
