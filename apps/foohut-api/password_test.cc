#include "apps/foohut-api/password.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hut::foohut {
namespace {

TEST(PasswordHasherTest, HashThenVerify) {
  PasswordHasher hasher;
  absl::StatusOr<std::string> hash = hasher.Hash(Secret("correct horse battery"));
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_THAT(*hash, ::testing::StartsWith("$argon2id$"));
  EXPECT_EQ(hash->find("correct"), std::string::npos);
  EXPECT_TRUE(hasher.Verify(*hash, Secret("correct horse battery")));
  EXPECT_FALSE(hasher.Verify(*hash, Secret("correct horse batterY")));
  EXPECT_FALSE(hasher.Verify(*hash, Secret("")));
}

TEST(PasswordHasherTest, SaltedSoHashesDiffer) {
  PasswordHasher hasher;
  EXPECT_NE(*hasher.Hash(Secret("same password")), *hasher.Hash(Secret("same password")));
}

TEST(PasswordHasherTest, MalformedHashNeverVerifies) {
  PasswordHasher hasher;
  EXPECT_FALSE(hasher.Verify("", Secret("x")));
  EXPECT_FALSE(hasher.Verify("$argon2id$garbage", Secret("x")));
  hasher.VerifyDummy(Secret("anything"));  // must not crash
}

}  // namespace
}  // namespace hut::foohut
