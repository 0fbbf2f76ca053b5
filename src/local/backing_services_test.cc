// Starts the real PostgreSQL and Redis servers from Debian on loopback.
#include <gtest/gtest.h>

#include "src/common/subprocess.h"
#include "src/local/postgres_server.h"
#include "src/local/redis_server.h"
#include "testing/test_env.h"

namespace hut::local {
namespace {

using std::chrono::milliseconds;

std::string Psql(const std::string& url, const std::string& sql) {
  ProcessOptions opts;
  opts.argv = {"psql", url, "-Atqc", sql};
  auto r = RunCommand(opts, milliseconds(10'000));
  if (!r.ok()) return "error: " + std::string(r.status().message());
  return r->output;
}

TEST(PostgresServerTest, StartsCreatesDatabaseAndKeepsDataAcrossRestarts) {
  testing::TempDir dir;
  PostgresOptions opts;
  opts.data_dir = dir.path() + "/pg";
  opts.port = testing::PickFreePort();
  opts.unsafe_no_fsync = true;
  {
    auto pg = PostgresServer::Start(opts);
    ASSERT_TRUE(pg.ok()) << pg.status();
    EXPECT_EQ((*pg)->url(), "postgresql://foohut@127.0.0.1:" + std::to_string(opts.port) +
                                "/foohut");
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

TEST(PostgresServerTest, PortInUseIsAClearError) {
  testing::TempDir dir;
  PostgresOptions opts;
  opts.data_dir = dir.path() + "/pg1";
  opts.port = testing::PickFreePort();
  opts.unsafe_no_fsync = true;
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
  ProcessOptions cli;
  cli.argv = {"redis-cli", "-p", std::to_string(opts.port), "SET", "k", "v"};
  auto r = RunCommand(cli, milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "OK\n");
  pid_t pid = (*redis)->pid();
  (*redis)->Stop();
  EXPECT_NE(kill(pid, 0), 0);
  // Append-only file: the key survives a restart.
  auto again = RedisServer::Start(opts);
  ASSERT_TRUE(again.ok()) << again.status();
  cli.argv = {"redis-cli", "-p", std::to_string(opts.port), "GET", "k"};
  r = RunCommand(cli, milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "v\n");
}

}  // namespace
}  // namespace hut::local
