#include "src/server/discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "testing/test_env.h"

namespace hut::server {
namespace {

using ::testing::HasSubstr;

class TokenFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(TokenFileTest, ATokenIsReadWithoutItsSurroundingWhitespace) {
  auto token = ReadToken(Write("t", "  s3cret\n", 0600));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->Equals(Secret("s3cret")));
}

TEST_F(TokenFileTest, AnAdminTokenOthersOrItsGroupCanReadIsRefused) {
  for (mode_t mode : {0640, 0604, 0644}) {
    auto token = ReadToken(Write("t", "s3cret", mode));
    EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied) << std::oct << mode;
    EXPECT_THAT(token.status().message(), HasSubstr("chmod 600"));
  }
}

// A Kubernetes Secret volume gives the pod's fsGroup read access (0440).
TEST_F(TokenFileTest, AMountedTokenMayBeGroupReadableButNotWorldReadable) {
  auto mounted = ReadMountedToken(Write("m", "s3cret\n", 0440));
  ASSERT_TRUE(mounted.ok()) << mounted.status();
  EXPECT_TRUE(mounted->Equals(Secret("s3cret")));
  auto open = ReadMountedToken(Write("m", "s3cret\n", 0444));
  EXPECT_EQ(open.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(open.status().message(), HasSubstr("o-rwx"));
}

TEST_F(TokenFileTest, AMissingOrEmptyTokenFileIsAClearError) {
  EXPECT_EQ(ReadMountedToken(dir_.path() + "/none").status().code(), absl::StatusCode::kNotFound);
  auto empty = ReadMountedToken(Write("e", " \n", 0400));
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("is empty"));
}

TEST_F(TokenFileTest, AMissingTokenIsCreatedPrivateAndThenKept) {
  const std::string path = dir_.path() + "/alertmanager-token";
  auto first = LoadOrCreateTokenFile(path);
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = LoadOrCreateTokenFile(path);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->Equals(*first));
}

}  // namespace
}  // namespace hut::server
