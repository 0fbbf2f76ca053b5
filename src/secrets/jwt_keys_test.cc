#include "src/secrets/jwt_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "nlohmann/json.hpp"
#include "testing/fake_clock.h"
#include "testing/test_env.h"

namespace hut::secrets {
namespace {

nlohmann::json Read(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in, nullptr, false);
}

TEST(JwtKeysTest, CreatesOnePrivateKeySetAndKeepsIt) {
  testing::TempDir dir;
  testing::FakeClock clock;
  const std::string path = dir.path() + "/secrets/jwt-keys.json";
  ASSERT_TRUE(EnsureJwtKeys(path, clock).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const nlohmann::json keys = Read(path);
  ASSERT_TRUE(keys.is_object());
  EXPECT_EQ(keys["active_kid"], "hut-1767225600");
  ASSERT_TRUE(keys["keys"]["hut-1767225600"].is_string());
  EXPECT_EQ(keys["keys"]["hut-1767225600"].get<std::string>().size(), 44u);  // 32 bytes, base64
  clock.Advance(std::chrono::hours(1));
  ASSERT_TRUE(EnsureJwtKeys(path, clock).ok());
  EXPECT_EQ(Read(path), keys);  // an existing set is kept
}

}  // namespace
}  // namespace hut::secrets
