#include "src/common/secret.h"

#include <gtest/gtest.h>

#include <sstream>

#include "nlohmann/json.hpp"

namespace hut {
namespace {

TEST(SecretTest, NeverPrintsInClear) {
  Secret s("p@ssw0rd");
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "[REDACTED]");
  nlohmann::json j = {{"password", s}};
  EXPECT_EQ(j.dump(), R"({"password":"[REDACTED]"})");
  EXPECT_EQ(s.Reveal(), "p@ssw0rd");
}

TEST(SecretTest, CopyMoveAndCompare) {
  Secret a("k1");
  Secret b = a;
  EXPECT_TRUE(a.Equals(b));
  Secret c = std::move(a);
  EXPECT_TRUE(c.Equals(b));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is wiped
  EXPECT_FALSE(c.Equals(Secret("k2")));
  EXPECT_FALSE(c.Equals(Secret("k1-longer")));
}

}  // namespace
}  // namespace hut
