// Kill-points of a database rotation: the control plane's rotation runs in a
// process of its own (hut-test-rotate-database), SIGKILLed right after each
// of the four steps, then started again as a restarted control plane would.
// Meanwhile a real foohut-api serves 300 requests/s that read PostgreSQL,
// logging in with the credentials file the rotation rewrites: the rotation
// finishes every time and not one request fails.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/common/resources.h"
#include "src/common/subprocess.h"
#include "src/http/client.h"
#include "src/loadgen/load_generator.h"
#include "src/local/postgres_server.h"
#include "src/local/redis_server.h"
#include "src/secrets/database_rotation.h"
#include "src/secrets/local_backend.h"
#include "src/secrets/service.h"
#include "src/secrets/sync.h"
#include "src/store/sqlite_store.h"
#include "testing/test_env.h"

namespace hut::local {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class DatabaseRotationKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(state());
    PostgresOptions o;
    o.data_dir = dir_.path() + "/pg";
    o.port = testing::PickFreePort();
    o.unsafe_no_fsync = true;
    auto pg = PostgresServer::Start(o);
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    RedisOptions r;
    r.dir = dir_.path() + "/redis";
    r.port = testing::PickFreePort();
    auto redis = RedisServer::Start(r);
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    {  // the first version, from the server's password file, as hut up does it
      RealClock clock;
      auto backend = secrets::LocalSecretBackend::Open(
          {.file = state() + "/store.json", .key_file = state() + "/master.key", .key = Secret()},
          clock);
      ASSERT_TRUE(backend.ok()) << backend.status();
      auto store = store::SqliteStore::Open(state() + "/events.db", clock);
      ASSERT_TRUE(store.ok()) << store.status();
      secrets::SecretsService service({.project = "foohut", .environment = "staging",
                                       .backend = backend->get(), .store = store->get(),
                                       .clock = &clock});
      ASSERT_TRUE(secrets::SyncDatabaseCredentials(service, pg_->password_file(),
                                                   credentials_file(), "foohut")
                      .ok());
    }
    api_port_ = testing::PickFreePort();
    ProcessOptions api;
    api.argv = {testing::BinPath("foohut-api"), "serve", "--migrate"};
    api.env = {{"PORT", std::to_string(api_port_)},
               {"FOOHUT_ENV", "development"},
               // No user or password here: the credentials file has them.
               {"FOOHUT_DATABASE_URL", absl::StrCat("postgresql://127.0.0.1:", pg_->port(), "/foohut")},
               {"FOOHUT_DATABASE_CREDENTIALS_FILE", credentials_file()},
               {"FOOHUT_REDIS_URL", redis_->url()},
               {"FOOHUT_REDIS_PASSWORD_FILE", redis_->password_file()}};
    api.stdout_mode = OutputMode::kFile;
    api.stdout_path = dir_.path() + "/api.log";
    api.stderr_mode = OutputMode::kFile;
    api.stderr_path = dir_.path() + "/api.log";
    auto started = Process::Spawn(api);
    ASSERT_TRUE(started.ok()) << started.status();
    api_ = std::move(*started);
    bool ready = false;
    for (int i = 0; i < 200 && !ready; ++i) {
      http::ClientRequest ask;
      ask.port = api_port_;
      ask.target = "/readyz";
      auto answer = http::Fetch(ask);
      ready = answer.ok() && answer->status == 200;
      if (!ready) std::this_thread::sleep_for(milliseconds(50));
    }
    ASSERT_TRUE(ready) << ApiLog();
  }

  std::string state() const { return dir_.path() + "/state"; }
  std::string credentials_file() const { return state() + "/database.json"; }
  std::string ApiLog() const { return ReadFileCapped(dir_.path() + "/api.log", 1 << 20).value_or(""); }

  // One run of the rotation process: its exit and the login it printed.
  CommandResult RunStep(bool rotate, const std::string& kill_after) {
    ProcessOptions o;
    o.argv = {testing::BinPath("hut-test-rotate-database"), "--state", state(),
              "--credentials-file", credentials_file(), "--pg-bin", PgBin(),
              "--socket-dir", dir_.path() + "/pg", "--port", std::to_string(pg_->port()),
              "--kill-after", kill_after};
    if (rotate) o.argv.push_back("--rotate");
    auto r = RunCommand(o, milliseconds(60'000));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{};
  }
  static std::string PgBin() {
    std::string best;
    for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql")) {
      if (std::filesystem::exists(e.path() / "bin/psql") && e.path().string() > best) best = e.path();
    }
    return best + "/bin";
  }
  // Waits until `user` has no session left (foohut-api's pool moved off it).
  int WaitNoSessions(const std::string& user) {
    int open = -1;
    for (int i = 0; i < 200 && open != 0; ++i) {
      open = pg_->logins().Sessions(user).value_or(-1);
      if (open != 0) std::this_thread::sleep_for(milliseconds(50));
    }
    return open;
  }

  testing::TempDir dir_;
  std::unique_ptr<PostgresServer> pg_;
  std::unique_ptr<RedisServer> redis_;
  uint16_t api_port_ = 0;
  std::unique_ptr<Process> api_;
};

TEST_F(DatabaseRotationKillTest, KilledAfterEachStepTheRotationFinishesAndNoRequestFails) {
  auto load = loadgen::LoadGenerator::Start(
      {.port = api_port_, .targets = {"/api/v1/pages?q=rotation", "/readyz"}, .rate = 300,
       .count_header = ""});
  ASSERT_TRUE(load.ok()) << load.status();
  std::string user = "foohut";
  for (const std::string step : {"create", "set", "test", "finish"}) {
    SCOPED_TRACE("killed after " + step);
    const CommandResult killed = RunStep(true, step);
    EXPECT_FALSE(killed.status.exited) << killed.output;
    EXPECT_EQ(killed.status.signal, SIGKILL) << killed.status.ToString() << "\n" << killed.output;
    const CommandResult restarted = RunStep(false, "none");
    ASSERT_TRUE(restarted.status.success()) << restarted.status.ToString() << "\n" << restarted.output;
    const std::string now(absl::StripAsciiWhitespace(restarted.output));
    EXPECT_EQ(now, secrets::AlternateUser(user)) << "the rotation finished after the restart";
    // foohut-api follows the file: every session of the old login goes.
    EXPECT_EQ(WaitNoSessions(user), 0) << user << " still in use";
    EXPECT_GT(pg_->logins().Sessions(now).value_or(0), 0) << "foohut-api logs in as " << now;
    std::cout << "killed after " << step << ": finished on restart, " << now << " current; load "
              << (*load)->Snapshot().Summary() << "\n";
    user = now;
  }
  const loadgen::LoadReport report = (*load)->Stop();
  std::cout << "4 kill-points: " << report.Summary() << "\n";
  EXPECT_EQ(report.failed(), 0) << report.Summary();
  EXPECT_GT(report.sent, 1000);
  EXPECT_THAT(ApiLog(), ::testing::HasSubstr("database login changed"));
}

}  // namespace
}  // namespace hut::local
