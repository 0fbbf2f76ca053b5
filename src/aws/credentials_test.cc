// IRSA's credentials: a web identity token exchanged at STS
// (AssumeRoleWithWebIdentity, moto's server on loopback) and exchanged again
// before the temporary credentials expire.
#include "src/aws/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "src/aws/client.h"
#include "testing/moto_server.h"
#include "testing/test_env.h"

namespace hut::aws {
namespace {

using ::testing::HasSubstr;

class WebIdentityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = testing::MotoServer::Start({.authenticate = false});
    ASSERT_TRUE(m.ok()) << m.status();
    moto_ = m->release();
  }
  static void TearDownTestSuite() { delete moto_; }
  void SetUp() override {
    token_file_ = dir_.path() + "/token";
    std::ofstream(token_file_) << "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl\n";  // pragma: allowlist secret (a test token)
  }
  GetEnv Env() const {
    return [this](const std::string& name) -> std::optional<std::string> {
      if (name == "AWS_ENDPOINT_URL") return moto_->url();
      if (name == "AWS_REGION") return "us-east-1";
      if (name == "AWS_ROLE_ARN") return "arn:aws:iam::123456789012:role/hut-production";
      if (name == "AWS_WEB_IDENTITY_TOKEN_FILE") return token_file_;
      return std::nullopt;
    };
  }
  static inline testing::MotoServer* moto_ = nullptr;
  testing::TempDir dir_;
  std::string token_file_;
};

TEST_F(WebIdentityTest, TheEnvironmentsRoleAndTokenGiveTemporaryCredentials) {
  auto config = ConfigFromEnvironment(Env());
  ASSERT_TRUE(config.ok()) << config.status();
  auto first = config->credentials->Get();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->access_key_id.empty());
  EXPECT_FALSE(first->secret_access_key.empty());
  EXPECT_FALSE(first->session_token.empty()) << "temporary credentials carry a session token";
  auto again = config->credentials->Get();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->access_key_id, first->access_key_id) << "reused until near their expiry";
  // A signed call with them (their session token among the signed headers).
  AwsClient client(EndpointFor(*config, "SECRETS_MANAGER", "secretsmanager"), config->region,
                   "secretsmanager", config->credentials);
  AwsRequest r;
  r.method = "POST";
  r.headers.emplace("x-amz-target", "secretsmanager.ListSecrets");
  r.headers.emplace("content-type", "application/x-amz-json-1.1");
  r.body = "{}";
  auto answer = client.Send(r);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->status, 200) << answer->body;
}

TEST_F(WebIdentityTest, CredentialsAreExchangedAgainBeforeTheyExpire) {
  absl::Time now = absl::Now();
  WebIdentityCredentials provider({.sts_endpoint = moto_->url(),
                                   .role_arn = "arn:aws:iam::123456789012:role/hut-production",
                                   .token_file = token_file_,
                                   .session_name = "hut",
                                   .refresh_before = absl::Minutes(5),
                                   .now = [&now] { return now; }});
  auto first = provider.Get();
  ASSERT_TRUE(first.ok()) << first.status();
  now += absl::Minutes(10);
  EXPECT_EQ(provider.Get()->access_key_id, first->access_key_id);
  now += absl::Hours(12);  // past any STS session
  auto later = provider.Get();
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_NE(later->access_key_id, first->access_key_id);
}

TEST_F(WebIdentityTest, AMissingTokenFileOrNoCredentialsAtAllIsAClearError) {
  WebIdentityCredentials provider({.sts_endpoint = moto_->url(), .role_arn = "arn:aws:iam::1:role/r",
                                   .token_file = dir_.path() + "/none", .session_name = "hut",
                                   .refresh_before = absl::Minutes(5), .now = absl::Now});
  auto got = provider.Get();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(got.status().message(), HasSubstr(dir_.path() + "/none"));
  auto none = ConfigFromEnvironment([](const std::string&) { return std::nullopt; });
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(none.status().message(), HasSubstr("AWS_WEB_IDENTITY_TOKEN_FILE"));
  EXPECT_THAT(none.status().message(), HasSubstr("AWS_ACCESS_KEY_ID"));
}

}  // namespace
}  // namespace hut::aws
