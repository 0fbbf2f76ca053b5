#ifndef HUT_APPS_FOOHUT_API_BACKENDS_ENV_H_
#define HUT_APPS_FOOHUT_API_BACKENDS_ENV_H_

// Test support: one real PostgreSQL and one real Redis on loopback for a whole
// integration test binary, started by a gtest Environment, plus a JWT keys file.

#include <map>
#include <memory>
#include <string>

#include "apps/foohut-api/config.h"
#include "gtest/gtest.h"
#include "src/local/postgres_server.h"
#include "src/local/redis_server.h"
#include "testing/test_env.h"

namespace hut::foohut {

using Env = std::map<std::string, std::string>;

class Backends : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;

  // Stop and start again on the same folder and port (data kept).
  void StopRedis();
  void StartRedis();
  void StopPostgres();
  void StartPostgres();

  std::string database_url() const;
  local::PostgresServer& postgres() { return *postgres_; }
  std::string redis_url() const;
  // Host, port, user and password: what foohut-api gets from its environment.
  RedisAddress redis_address() const;
  uint16_t redis_port() const { return redis_options_.port; }
  const std::string& keys_file() const { return keys_file_; }
  const std::string& dir() const { return dir_->path(); }

  // The variables a normal staging replica gets.
  Env BaseEnv() const;

 private:
  std::unique_ptr<testing::TempDir> dir_;
  local::PostgresOptions pg_options_;
  std::unique_ptr<local::PostgresServer> postgres_;
  local::RedisOptions redis_options_;
  std::unique_ptr<local::RedisServer> redis_;
  std::string keys_file_;
};

// Random lowercase hex of `bytes` bytes, for names unique across test runs.
std::string RandomHexForTest(size_t bytes);

// The binary's Backends (registered with gtest before main runs).
Backends& TestBackends();

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_BACKENDS_ENV_H_
