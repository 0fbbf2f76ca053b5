// Database credential rotation (secrets::DatabaseRotator) on a real
// PostgreSQL through PostgresLogins, on a fake clock: the logins alternate,
// the old one works through the overlap and not after, a failed test step
// changes nothing, a login still in use is not reused, the 30-day schedule.
#include "src/secrets/database_rotation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "src/common/resources.h"
#include "src/local/postgres_server.h"
#include "src/secrets/sync.h"
#include "testing/fake_clock.h"
#include "testing/local_secrets.h"
#include "testing/test_env.h"

namespace hut::local {
namespace {

using secrets::DatabaseCredentials;
using secrets::kDatabaseSecret;
using std::chrono::days;
using std::chrono::minutes;
using ::testing::HasSubstr;

// The real logins, with a test step that tries a wrong password: how a
// rotation whose new credentials do not work looks.
class WrongPasswordInTest final : public secrets::DatabaseUsers {
 public:
  explicit WrongPasswordInTest(secrets::DatabaseUsers& real) : real_(real) {}
  absl::Status SetPassword(const std::string& u, const Secret& p) override { return real_.SetPassword(u, p); }
  absl::Status TryLogin(const std::string& u, const Secret&) override {
    return real_.TryLogin(u, Secret("not-the-password"));
  }
  absl::Status Disable(const std::string& u) override { return real_.Disable(u); }
  absl::StatusOr<int> Sessions(const std::string& u) override { return real_.Sessions(u); }

 private:
  secrets::DatabaseUsers& real_;
};

class DatabaseRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PostgresOptions o;
    o.data_dir = dir_.path() + "/pg";
    o.port = testing::PickFreePort();
    o.unsafe_no_fsync = true;
    auto pg = PostgresServer::Start(o);
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    ASSERT_NO_FATAL_FAILURE(local_.Open(clock_));
    // The first version: the password file the server made.
    ASSERT_TRUE(secrets::SyncDatabaseCredentials(*local_.service, pg_->password_file(),
                                                 credentials_file(), "foohut")
                    .ok());
    first_ = Current();
  }

  std::string credentials_file() const { return dir_.path() + "/database.json"; }

  secrets::DatabaseRotationOptions Options(secrets::DatabaseUsers* users = nullptr) {
    secrets::DatabaseRotationOptions o;
    o.secrets = local_.service.get();
    o.clock = &clock_;
    o.users = users != nullptr ? users : &pg_->logins();
    o.period = days(30);
    o.overlap = minutes(10);
    o.deliver = [this](const Secret& credentials) {
      delivered_.push_back(Parse(credentials).username);
      return absl::OkStatus();
    };
    o.drain_timeout = std::chrono::seconds(0);  // one look (the fake clock does not move)
    return o;
  }
  static DatabaseCredentials Parse(const Secret& value) {
    auto c = secrets::ParseDatabaseCredentials(value);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : DatabaseCredentials{};
  }
  DatabaseCredentials Current() { return Parse(local_.service->Current(kDatabaseSecret)->value); }
  bool Pending() { return local_.backend->Get("foohut/staging/database", secrets::kPending, "").ok(); }
  absl::Status Login(const DatabaseCredentials& c) { return pg_->logins().TryLogin(c.username, c.password); }
  std::vector<std::string> EventTypes() { return local_.EventTypes(); }
  // A libpq session of `c` held open (as a replica's pool holds one).
  std::unique_ptr<pqxx::connection> Session(const DatabaseCredentials& c) {
    return std::make_unique<pqxx::connection>(absl::StrCat(
        "host=127.0.0.1 port=", pg_->port(), " dbname=foohut user=", c.username,
        " password=", c.password.Reveal()));
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<PostgresServer> pg_;
  testing::LocalSecrets local_;
  DatabaseCredentials first_;
  std::vector<std::string> delivered_;
};

TEST_F(DatabaseRotationTest, TheLoginsAlternateAndTheOldOneStopsWorkingAfterTheOverlap) {
  ASSERT_EQ(first_.username, "foohut");
  secrets::DatabaseRotator rotator(Options());
  auto user = rotator.Rotate("alice");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(*user, "foohut_clone");
  const DatabaseCredentials second = Current();
  EXPECT_EQ(second.username, "foohut_clone");
  EXPECT_FALSE(second.password.Equals(first_.password));
  EXPECT_FALSE(Pending());
  EXPECT_EQ(delivered_, std::vector<std::string>{"foohut_clone"});
  EXPECT_TRUE(Login(second).ok()) << Login(second);
  EXPECT_TRUE(Login(first_).ok()) << "the replaced login works through the overlap";

  clock_.Advance(minutes(9));
  ASSERT_TRUE(rotator.Tick().ok());
  EXPECT_TRUE(Login(first_).ok()) << "not before the overlap ends";
  clock_.Advance(minutes(1));
  ASSERT_TRUE(rotator.Tick().ok());
  const absl::Status old = Login(first_);
  EXPECT_EQ(old.code(), absl::StatusCode::kPermissionDenied) << old;
  EXPECT_THAT(old.message(), HasSubstr("foohut"));
  EXPECT_THAT(std::string(old.message()), ::testing::Not(HasSubstr(first_.password.Reveal())));
  EXPECT_TRUE(Login(second).ok());

  // The next rotation goes back to the first login, with a new password.
  user = rotator.Rotate("bob");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(*user, "foohut");
  const DatabaseCredentials third = Current();
  EXPECT_TRUE(Login(third).ok());
  EXPECT_FALSE(Login(first_).ok()) << "the first password is gone for good";
  EXPECT_EQ(EventTypes(),
            (std::vector<std::string>{"secret.rotation-started", "secret.rotation-finished",
                                      "secret.login-retired", "secret.rotation-started",
                                      "secret.rotation-finished"}));
}

// What a migration run as the clone creates belongs to the owner, so the
// other login (and the next rotation's replicas) can use it.
TEST_F(DatabaseRotationTest, WhatTheCloneCreatesTheOwnerCanUse) {
  secrets::DatabaseRotator rotator(Options());
  ASSERT_TRUE(rotator.Rotate("alice").ok());
  {
    auto clone = Session(Current());
    pqxx::work txn(*clone);
    txn.exec("CREATE TABLE made_by_clone (id int)");
    txn.exec("INSERT INTO made_by_clone VALUES (1)");
    txn.commit();
  }
  auto owner = Session(first_);
  pqxx::work txn(*owner);
  EXPECT_EQ(txn.exec1("SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_clone'")[0]
                .as<std::string>(),
            "foohut");
  EXPECT_EQ(txn.exec1("SELECT count(*) FROM made_by_clone")[0].as<int>(), 1);
}

TEST_F(DatabaseRotationTest, AFailedTestStepRollsBackAndTheCurrentLoginStays) {
  WrongPasswordInTest broken(pg_->logins());
  secrets::DatabaseRotator rotator(Options(&broken));
  auto user = rotator.Rotate("alice");
  ASSERT_EQ(user.status().code(), absl::StatusCode::kFailedPrecondition) << user.status();
  EXPECT_THAT(user.status().message(), HasSubstr("rolled back: the new login does not work"));
  EXPECT_EQ(Current().username, "foohut");
  EXPECT_TRUE(Current().password.Equals(first_.password));
  EXPECT_FALSE(Pending());
  EXPECT_TRUE(delivered_.empty()) << "nothing handed out";
  EXPECT_TRUE(Login(first_).ok());
  EXPECT_EQ(EventTypes(),
            (std::vector<std::string>{"secret.rotation-started", "secret.rotation-failed"}));
}

// The replaced login still serving sessions (a replica that has not moved)
// is not given a new password by a second rotation; once they are gone, it is.
TEST_F(DatabaseRotationTest, ALoginStillInUseIsNotRotatedAgain) {
  secrets::DatabaseRotator rotator(Options());
  ASSERT_TRUE(rotator.Rotate("alice").ok());
  auto held = Session(first_);
  auto again = rotator.Rotate("alice");
  ASSERT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition) << again.status();
  EXPECT_THAT(again.status().message(), HasSubstr("foohut (replaced by the last rotation) still has 1 open sessions"));
  EXPECT_EQ(Current().username, "foohut_clone");
  held.reset();
  for (int i = 0; i < 100 && *pg_->logins().Sessions("foohut") > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the backend exits
  }
  again = rotator.Rotate("alice");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, "foohut");
  EXPECT_FALSE(Login(first_).ok());
}

TEST_F(DatabaseRotationTest, TheScheduleIs30DaysAndAMissedOneRunsOnce) {
  secrets::DatabaseRotator rotator(Options());
  ASSERT_TRUE(rotator.Tick().ok());
  EXPECT_EQ(delivered_, std::vector<std::string>{"foohut"}) << "the first tick hands out the current";
  clock_.Advance(days(30) - minutes(1));
  ASSERT_TRUE(rotator.Tick().ok());
  EXPECT_EQ(Current().username, "foohut");
  clock_.Advance(minutes(1));
  ASSERT_TRUE(rotator.Tick().ok());
  EXPECT_EQ(Current().username, "foohut_clone");
  // Down for 100 days: one rotation when it is back, not three.
  clock_.Advance(days(100));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rotator.Tick().ok());
  EXPECT_EQ(Current().username, "foohut");
  int started = 0;
  for (const std::string& t : EventTypes()) started += t == "secret.rotation-started";
  EXPECT_EQ(started, 2);
}

// The database file every replica reads, and the password file the server
// sets its login from at start, follow the source of truth.
TEST_F(DatabaseRotationTest, TheSyncWritesTheFilesFromTheCurrentVersion) {
  secrets::DatabaseRotator rotator(Options());
  ASSERT_TRUE(rotator.Rotate("alice").ok());
  ASSERT_TRUE(secrets::SyncDatabaseCredentials(*local_.service, pg_->password_file(),
                                               credentials_file(), "foohut")
                  .ok());
  const DatabaseCredentials now = Current();
  auto file = ReadFileCapped(credentials_file(), 4096);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(Parse(Secret(*file)).username, "foohut_clone");
  auto pgpass = ReadFileCapped(pg_->password_file(), 4096);
  ASSERT_TRUE(pgpass.ok());
  EXPECT_EQ(*pgpass, absl::StrCat("*:*:*:foohut_clone:", now.password.Reveal(), "\n"));
  // Restarted, the server still lets the current login in.
  ASSERT_TRUE(pg_->Restart().ok());
  EXPECT_TRUE(Login(now).ok());
}

}  // namespace
}  // namespace hut::local
