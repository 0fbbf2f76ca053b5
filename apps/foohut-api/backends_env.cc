#include "apps/foohut-api/backends_env.h"

#include <sodium.h>

#include <fstream>

namespace hut::foohut {

void Backends::SetUp() {
  dir_ = std::make_unique<testing::TempDir>();
  pg_options_.data_dir = dir_->path() + "/postgres";
  pg_options_.port = testing::PickFreePort();
  pg_options_.unsafe_no_fsync = true;
  StartPostgres();
  redis_options_.dir = dir_->path() + "/redis";
  redis_options_.port = testing::PickFreePort();
  StartRedis();
  keys_file_ = dir_->path() + "/jwt-keys.json";
  std::ofstream(keys_file_) << R"({"active_kid": "test-1", "keys": {"test-1": )"
                            << R"("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="}})";
}

void Backends::TearDown() {
  redis_.reset();
  postgres_.reset();
  dir_.reset();
}

void Backends::StartPostgres() {
  auto started = local::PostgresServer::Start(pg_options_);
  ASSERT_TRUE(started.ok()) << started.status();
  postgres_ = std::move(*started);
}

void Backends::StopPostgres() { postgres_->Stop(); }

void Backends::StartRedis() {
  auto started = local::RedisServer::Start(redis_options_);
  ASSERT_TRUE(started.ok()) << started.status();
  redis_ = std::move(*started);
}

void Backends::StopRedis() { redis_->Stop(); }

std::string Backends::database_url() const { return postgres_->url(); }

std::string Backends::redis_url() const { return redis_->url(); }

RedisAddress Backends::redis_address() const {
  std::ifstream in(redis_->password_file());
  std::string password;
  std::getline(in, password);
  return {"127.0.0.1", redis_port(), redis_options_.user, Secret(password)};
}

Env Backends::BaseEnv() const {
  return {{"FOOHUT_DATABASE_URL", database_url()},
          {"FOOHUT_REDIS_URL", redis_url()},
          {"FOOHUT_REDIS_PASSWORD_FILE", redis_->password_file()},
          {"FOOHUT_JWT_KEYS_FILE", keys_file_},
          {"FOOHUT_ENV", "staging"},
          {"FOOHUT_VERSION", "9.9.9"},
          {"FOOHUT_FAULTS", ""},
          {"FOOHUT_LOG_LEVEL", "INFO"},
          {"FOOHUT_SHUTDOWN_GRACE", "10s"},
          {"FOOHUT_BIND_ADDRESS", "127.0.0.1"}};
}

std::string RandomHexForTest(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(2 * bytes + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  hex.pop_back();
  return hex;
}

Backends& TestBackends() {
  // Owned by gtest once registered; lives until the process ends.
  static Backends* const backends =
      static_cast<Backends*>(::testing::AddGlobalTestEnvironment(new Backends));
  return *backends;
}

// Registers the environment before RUN_ALL_TESTS (gtest_main).
[[maybe_unused]] static Backends& registered = TestBackends();

}  // namespace hut::foohut
