// Starts the real PostgreSQL and Redis servers from Debian on loopback.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <thread>

#include "src/common/resources.h"
#include "src/common/subprocess.h"
#include "src/local/postgres_server.h"
#include "src/local/redis_server.h"
#include "testing/test_env.h"

namespace hut::local {
namespace {

using std::chrono::milliseconds;

std::string Psql(const std::string& url, const std::string& sql,
                 std::map<std::string, std::string> env = {}) {
  ProcessOptions opts;
  opts.argv = {"psql", url, "-Atqc", sql};
  opts.env = std::move(env);
  opts.env["PGCONNECT_TIMEOUT"] = "5";
  auto r = RunCommand(opts, milliseconds(10'000));
  if (!r.ok()) return "error: " + std::string(r.status().message());
  return r->output;
}

// A cluster in `dir`/`name` on a free port; fsync off unless asked.
PostgresOptions Options(const testing::TempDir& dir, const std::string& name,
                        bool unsafe_no_fsync = true) {
  PostgresOptions opts;
  opts.data_dir = dir.path() + "/" + name;
  opts.port = testing::PickFreePort();
  opts.unsafe_no_fsync = unsafe_no_fsync;
  return opts;
}

TEST(PostgresServerTest, StartsCreatesDatabaseAndKeepsDataAcrossRestarts) {
  testing::TempDir dir;
  PostgresOptions opts = Options(dir, "pg");
  {
    auto pg = PostgresServer::Start(opts);
    ASSERT_TRUE(pg.ok()) << pg.status();
    EXPECT_EQ((*pg)->url(), "postgresql://foohut@127.0.0.1:" + std::to_string(opts.port) +
                                "/foohut?passfile=" + opts.data_dir + ".pgpass");
    EXPECT_EQ(Psql((*pg)->url(), "CREATE TABLE t (x int); INSERT INTO t VALUES (42);"), "");
  }
  auto pg = PostgresServer::Start(opts);
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_EQ(Psql((*pg)->url(), "SELECT x FROM t"), "42\n");
  (*pg)->Stop();
  EXPECT_NE(Psql("postgresql://foohut@127.0.0.1:" + std::to_string(opts.port) + "/foohut",
                 "SELECT 1"),
            "1\n");
}

// No one is trusted: without the password neither the application's role
// nor the superuser logs in over TCP, and a wrong password is refused.
TEST(PostgresServerTest, PasswordAuthenticationForEveryone) {
  testing::TempDir dir;
  PostgresOptions opts = Options(dir, "pg");
  auto pg = PostgresServer::Start(opts);
  ASSERT_TRUE(pg.ok()) << pg.status();
  struct stat st;
  ASSERT_EQ(stat((*pg)->password_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string host = "postgresql://%s@127.0.0.1:" + std::to_string(opts.port) + "/foohut";
  auto as = [&](const std::string& user) {
    std::string url = host;
    url.replace(url.find("%s"), 2, user);
    return url;
  };
  const std::map<std::string, std::string> no_passfile = {{"PGPASSFILE", "/nonexistent"}};
  EXPECT_EQ(Psql((*pg)->url(), "SELECT current_user"), "foohut\n");
  for (const std::string user : {"foohut", "postgres"}) {
    const std::string out = Psql(as(user), "SELECT 1", no_passfile);
    EXPECT_NE(out, "1\n") << user;
    EXPECT_NE(out.find("password"), std::string::npos) << user << ": " << out;
    const std::string wrong =
        Psql(as(user), "SELECT 1", {{"PGPASSWORD", "guess"}, {"PGPASSFILE", "/nonexistent"}});
    EXPECT_NE(wrong.find("password authentication failed"), std::string::npos) << wrong;
  }
  // The password survives a restart (the file is the source of truth).
  (*pg)->Stop();
  pg = PostgresServer::Start(opts);
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_EQ(Psql((*pg)->url(), "SELECT 1"), "1\n");
}

// A PostgreSQL killed with SIGKILL (as when hut itself is killed) leaves its
// postmaster.pid and, for a moment, backends that hold its shared memory; a
// start right after must wait them out, not fail.
TEST(PostgresServerTest, StartsAtOnceAfterBeingKilled) {
  testing::TempDir dir;
  PostgresOptions opts = Options(dir, "pg", /*unsafe_no_fsync=*/false);  // a killed server keeps what it committed
  auto pg = PostgresServer::Start(opts);
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_EQ(Psql((*pg)->url(), "CREATE TABLE k (x int); INSERT INTO k VALUES (7);"), "");
  // A backend that outlives its postmaster for a moment, as after a kill.
  ProcessOptions session;
  session.argv = {"psql", (*pg)->url(), "-Atqc", "SELECT pg_sleep(2)"};
  auto busy = Process::Spawn(session);
  ASSERT_TRUE(busy.ok()) << busy.status();
  std::this_thread::sleep_for(milliseconds(300));  // psql connects (a real server)
  ASSERT_EQ(kill((*pg)->pid(), SIGKILL), 0);
  pg->reset();  // reaps it
  EXPECT_TRUE(std::filesystem::exists(opts.data_dir + "/postmaster.pid"));
  auto again = PostgresServer::Start(opts);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Psql((*again)->url(), "SELECT x FROM k"), "7\n");
}

TEST(PostgresServerTest, PortInUseIsAClearError) {
  testing::TempDir dir;
  PostgresOptions opts = Options(dir, "pg1");
  auto first = PostgresServer::Start(opts);
  ASSERT_TRUE(first.ok()) << first.status();
  opts.data_dir = dir.path() + "/pg2";
  opts.start_timeout = milliseconds(15'000);
  auto second = PostgresServer::Start(opts);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(std::to_string(opts.port)), std::string::npos)
      << second.status();
}

TEST(RedisServerTest, StartsAnswersAndStops) {
  testing::TempDir dir;
  RedisOptions opts;
  opts.dir = dir.path() + "/redis";
  opts.port = testing::PickFreePort();
  auto redis = RedisServer::Start(opts);
  ASSERT_TRUE(redis.ok()) << redis.status();
  EXPECT_EQ((*redis)->url(), "redis://foohut@127.0.0.1:" + std::to_string(opts.port));
  ProcessOptions cli;
  // Without the password (and as "default") nothing is allowed.
  cli.argv = {"redis-cli", "-p", std::to_string(opts.port), "SET", "k", "v"};
  auto r = RunCommand(cli, milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->output.find("NOAUTH"), std::string::npos) << r->output;
  cli.argv = {"redis-cli", "-p", std::to_string(opts.port), "--user", "foohut", "--pass", "guess",
              "--no-auth-warning", "SET", "k", "v"};
  r = RunCommand(cli, milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->output.find("WRONGPASS"), std::string::npos) << r->output;
  auto text = ReadFileCapped((*redis)->password_file(), 4096);
  ASSERT_TRUE(text.ok()) << text.status();
  const std::string password = text->substr(0, text->find('\n'));
  cli.argv = {"redis-cli", "-p", std::to_string(opts.port), "--user", "foohut", "--pass", password,
              "--no-auth-warning", "SET", "k", "v"};
  r = RunCommand(cli, milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "OK\n");
  pid_t pid = (*redis)->pid();
  (*redis)->Stop();
  EXPECT_NE(kill(pid, 0), 0);
  // Append-only file: the key survives a restart.
  auto again = RedisServer::Start(opts);
  ASSERT_TRUE(again.ok()) << again.status();
  cli.argv = {"redis-cli", "-p",       std::to_string(opts.port), "--user", "foohut",
              "--pass",    password,   "--no-auth-warning",       "GET",    "k"};
  r = RunCommand(cli, milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "v\n");
}

}  // namespace
}  // namespace hut::local
