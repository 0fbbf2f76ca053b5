#include "src/aws/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace hut::aws {
namespace {

using ::testing::HasSubstr;

GetEnv From(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    return std::nullopt;
  };
}

TEST(AwsConfigTest, ReadsTheEnvironmentAsTheSdksDo) {
  auto c = ConfigFromEnvironment(From({{"AWS_ACCESS_KEY_ID", "AKIA"},
                                       {"AWS_SECRET_ACCESS_KEY", "s"},
                                       {"AWS_DEFAULT_REGION", "eu-west-1"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_EQ(EndpointFor(*c, "S3", "s3"), "https://s3.eu-west-1.amazonaws.com");
  c = ConfigFromEnvironment(From({{"AWS_ACCESS_KEY_ID", "AKIA"},
                                  {"AWS_SECRET_ACCESS_KEY", "s"},
                                  {"AWS_REGION", "us-west-2"},
                                  {"AWS_DEFAULT_REGION", "eu-west-1"},
                                  {"AWS_ENDPOINT_URL", "http://127.0.0.1:5000/"},
                                  {"AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:6000"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->region, "us-west-2");
  EXPECT_EQ(EndpointFor(*c, "S3", "s3"), "http://127.0.0.1:5000");
  EXPECT_EQ(EndpointFor(*c, "SECRETS_MANAGER", "secretsmanager"), "http://127.0.0.1:6000");
}

TEST(AwsConfigTest, NoCredentialsIsAClearError) {
  auto c = ConfigFromEnvironment(From({{"AWS_ACCESS_KEY_ID", "AKIA"}}));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(c.status().message(), HasSubstr("AWS_SECRET_ACCESS_KEY"));
}

http::ClientResponse Answer(int status, std::string body) {
  http::ClientResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(AwsErrorTest, S3sXmlAndTheJsonProtocolsErrorsBecomeStatuses) {
  absl::Status s = ErrorStatus(
      Answer(404, "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified "
                  "key does not exist.</Message></Error>"),
      "GET s3://b/k");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "GET s3://b/k: NoSuchKey: The specified key does not exist. (HTTP 404)");
  s = ErrorStatus(Answer(400, R"({"__type":"com.amazonaws#ResourceNotFoundException",)"
                              R"("message":"Secrets Manager can't find the specified secret."})"),
                  "GetSecretValue foohut/production/jwt");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("ResourceNotFoundException: Secrets Manager can't find"));
  EXPECT_EQ(ErrorStatus(Answer(403, "<Error><Code>AccessDenied</Code></Error>"), "x").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrorStatus(Answer(503, "<Error><Code>SlowDown</Code></Error>"), "x").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorStatus(Answer(400, R"({"__type":"ThrottlingException"})"), "x").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorStatus(Answer(400, R"({"__type":"InvalidRequestException","message":"m"})"), "x")
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorStatus(Answer(400, "not a known shape"), "x").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hut::aws
