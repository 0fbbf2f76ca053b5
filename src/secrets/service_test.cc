#include "src/secrets/service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "nlohmann/json.hpp"
#include "src/secrets/local_backend.h"
#include "src/secrets/sync.h"
#include "src/store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/test_env.h"

namespace hut::secrets {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SecretsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = LocalSecretBackend::Open({.file = dir_.path() + "/store.json",
                                       .key_file = dir_.path() + "/master.key", .key = Secret()},
                                      clock_);
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = std::move(*b);
    auto s = store::SqliteStore::Open(":memory:", clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    service_ = std::make_unique<SecretsService>(SecretsServiceOptions{
        .project = "foohut", .environment = "staging", .backend = backend_.get(),
        .store = store_.get(), .clock = &clock_});
  }
  std::string AllEvents() {
    std::string all;
    auto events = store_->EventsAfter(0, 1000);
    EXPECT_TRUE(events.ok()) << events.status();
    if (events.ok()) {
      for (const store::Event& e : *events) all += e.message + e.data.dump() + "\n";
    }
    return all;
  }
  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<LocalSecretBackend> backend_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<SecretsService> service_;
};

TEST_F(SecretsServiceTest, SetAndRevealAreRecordedWithoutTheValue) {
  auto v = service_->Set("third-party-api-keys", Secret("sk_live_abc123"), "alice");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(backend_->Get("foohut/staging/third-party-api-keys", kCurrent, "")->value.Reveal(),
            "sk_live_abc123");
  auto shown = service_->Reveal("third-party-api-keys", "bob");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->value.Reveal(), "sk_live_abc123");
  const std::string events = AllEvents();
  EXPECT_THAT(events, HasSubstr("set by alice"));
  EXPECT_THAT(events, HasSubstr("revealed to bob"));
  EXPECT_THAT(events, HasSubstr(*v));
  EXPECT_THAT(events, Not(HasSubstr("sk_live")));
}

TEST_F(SecretsServiceTest, ListsTheEnvironmentsSecretsByShortName) {
  ASSERT_TRUE(service_->Set("database", Secret("a"), "t").ok());
  ASSERT_TRUE(service_->Set("jwt", Secret("b"), "t").ok());
  ASSERT_TRUE(backend_->Put("foohut/production/jwt", NewVersionId(), Secret("c"), {kCurrent}).ok());
  auto list = service_->List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "database");
  EXPECT_EQ((*list)[1].name, "jwt");
}

TEST_F(SecretsServiceTest, ABadNameOrAnEmptyValueIsAClearError) {
  for (const char* bad : {"", "Database", "../x", "a/b", "-x"}) {
    EXPECT_EQ(service_->Set(bad, Secret("v"), "t").status().code(),
              absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(service_->Set("jwt", Secret(""), "t").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->Describe("nothing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SecretsServiceTest, TheJwtKeyFileIsImportedOnceThenWrittenFromTheBackend) {
  const std::string file = dir_.path() + "/secrets/jwt-keys.json";
  std::filesystem::create_directories(dir_.path() + "/secrets");
  std::ofstream(file) << R"({"active_kid":"old","keys":{"old":"AAAA"}})" << "\n";
  ASSERT_TRUE(SyncJwtKeys(*service_, file, clock_).ok());
  EXPECT_EQ(service_->Current("jwt")->value.Reveal(), R"({"active_kid":"old","keys":{"old":"AAAA"}})");
  // A new current version in the backend reaches the file.
  ASSERT_TRUE(service_->Set("jwt", Secret(R"({"active_kid":"new","keys":{"new":"BBBB"}})"), "t").ok());
  ASSERT_TRUE(SyncJwtKeys(*service_, file, clock_).ok());
  std::ifstream in(file);
  EXPECT_EQ(nlohmann::json::parse(in)["active_kid"], "new");
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SecretsServiceTest, WithoutAKeyFileANewKeySetIsMade) {
  const std::string file = dir_.path() + "/jwt-keys.json";
  ASSERT_TRUE(SyncJwtKeys(*service_, file, clock_).ok());
  auto current = service_->Current("jwt");
  ASSERT_TRUE(current.ok());
  const nlohmann::json keys = nlohmann::json::parse(current->value.Reveal());
  EXPECT_TRUE(keys["keys"].contains(keys["active_kid"].get<std::string>()));
  std::ifstream in(file);
  EXPECT_EQ(nlohmann::json::parse(in), keys);
}

}  // namespace
}  // namespace hut::secrets
