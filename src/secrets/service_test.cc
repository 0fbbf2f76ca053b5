#include "src/secrets/service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "nlohmann/json.hpp"
#include "src/secrets/sync.h"
#include "testing/fake_clock.h"
#include "testing/local_secrets.h"
#include "testing/test_env.h"

namespace hut::secrets {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SecretsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(local_.Open(clock_));
  }
  std::string AllEvents() {
    std::string all;
    auto events = local_.store->EventsAfter(0, 1000);
    EXPECT_TRUE(events.ok()) << events.status();
    if (events.ok()) {
      for (const store::Event& e : *events) all += e.message + e.data.dump() + "\n";
    }
    return all;
  }
  testing::FakeClock clock_;
  testing::LocalSecrets local_;
};

TEST_F(SecretsServiceTest, SetAndRevealAreRecordedWithoutTheValue) {
  auto v = local_.service->Set("third-party-api-keys", Secret("sk_live_abc123"), "alice");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(local_.backend->Get("foohut/staging/third-party-api-keys", kCurrent, "")->value.Reveal(),
            "sk_live_abc123");
  auto shown = local_.service->Reveal("third-party-api-keys", "bob");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->value.Reveal(), "sk_live_abc123");
  const std::string events = AllEvents();
  EXPECT_THAT(events, HasSubstr("set by alice"));
  EXPECT_THAT(events, HasSubstr("revealed to bob"));
  EXPECT_THAT(events, HasSubstr(*v));
  EXPECT_THAT(events, Not(HasSubstr("sk_live")));
}

TEST_F(SecretsServiceTest, ListsTheEnvironmentsSecretsByShortName) {
  ASSERT_TRUE(local_.service->Set("database", Secret("a"), "t").ok());
  ASSERT_TRUE(local_.service->Set("jwt", Secret("b"), "t").ok());
  ASSERT_TRUE(local_.backend->Put("foohut/production/jwt", NewVersionId(), Secret("c"), {kCurrent}).ok());
  auto list = local_.service->List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "database");
  EXPECT_EQ((*list)[1].name, "jwt");
}

TEST_F(SecretsServiceTest, ABadNameOrAnEmptyValueIsAClearError) {
  for (const char* bad : {"", "Database", "../x", "a/b", "-x"}) {
    EXPECT_EQ(local_.service->Set(bad, Secret("v"), "t").status().code(),
              absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(local_.service->Set("jwt", Secret(""), "t").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(local_.service->Describe("nothing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SecretsServiceTest, TheJwtKeyFileIsImportedOnceThenWrittenFromTheBackend) {
  const std::string file = local_.dir.path() + "/secrets/jwt-keys.json";
  std::filesystem::create_directories(local_.dir.path() + "/secrets");
  std::ofstream(file) << R"({"active_kid":"old","keys":{"old":"AAAA"}})" << "\n";
  ASSERT_TRUE(SyncJwtKeys(*local_.service, file, clock_).ok());
  EXPECT_EQ(local_.service->Current("jwt")->value.Reveal(), R"({"active_kid":"old","keys":{"old":"AAAA"}})");
  // A new current version in the backend reaches the file.
  ASSERT_TRUE(local_.service->Set("jwt", Secret(R"({"active_kid":"new","keys":{"new":"BBBB"}})"), "t").ok());
  ASSERT_TRUE(SyncJwtKeys(*local_.service, file, clock_).ok());
  std::ifstream in(file);
  EXPECT_EQ(nlohmann::json::parse(in)["active_kid"], "new");
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SecretsServiceTest, WithoutAKeyFileANewKeySetIsMade) {
  const std::string file = local_.dir.path() + "/jwt-keys.json";
  ASSERT_TRUE(SyncJwtKeys(*local_.service, file, clock_).ok());
  auto current = local_.service->Current("jwt");
  ASSERT_TRUE(current.ok());
  const nlohmann::json keys = nlohmann::json::parse(current->value.Reveal());
  EXPECT_TRUE(keys["keys"].contains(keys["active_kid"].get<std::string>()));
  std::ifstream in(file);
  EXPECT_EQ(nlohmann::json::parse(in), keys);
}

}  // namespace
}  // namespace hut::secrets
