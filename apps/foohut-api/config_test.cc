#include "apps/foohut-api/config.h"

#include <fstream>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_env.h"

namespace hut::foohut {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

EnvLookup FromMap(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

std::map<std::string, std::string> Minimal() {
  return {{"FOOHUT_DATABASE_URL", "postgresql://foohut@127.0.0.1:5432/foohut"},
          {"FOOHUT_REDIS_URL", "redis://127.0.0.1:6379"}};
}

TEST(ConfigTest, Defaults) {
  absl::StatusOr<Config> c = ConfigFromEnv(FromMap(Minimal()));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->database_url.Reveal(), "postgresql://foohut@127.0.0.1:5432/foohut");
  EXPECT_EQ(c->redis, (RedisAddress{"127.0.0.1", 6379}));
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->version, "dev");
  EXPECT_EQ(c->env, Environment::kProduction);
  EXPECT_EQ(c->log_level, LogLevel::kInfo);
  EXPECT_EQ(c->shutdown_grace, std::chrono::seconds(30));
  EXPECT_EQ(c->faults, Faults{});
  EXPECT_TRUE(c->jwt_keys_file.empty());
}

TEST(ConfigTest, EverythingSet) {
  auto vars = Minimal();
  vars["PORT"] = "9090";
  vars["FOOHUT_VERSION"] = "1.2.3";
  vars["FOOHUT_ENV"] = "staging";
  vars["FOOHUT_FAULTS"] = "errors=0.5";
  vars["FOOHUT_LOG_LEVEL"] = "debug";
  vars["FOOHUT_SHUTDOWN_GRACE"] = "5s";
  vars["FOOHUT_JWT_KEYS_FILE"] = "/etc/keys.json";
  absl::StatusOr<Config> c = ConfigFromEnv(FromMap(vars));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->port, 9090);
  EXPECT_EQ(c->version, "1.2.3");
  EXPECT_EQ(c->env, Environment::kStaging);
  EXPECT_EQ(c->faults.errors, 0.5);
  EXPECT_EQ(c->log_level, LogLevel::kDebug);
  EXPECT_EQ(c->shutdown_grace, std::chrono::seconds(5));
  EXPECT_EQ(c->jwt_keys_file, "/etc/keys.json");
}

TEST(ConfigTest, BadValuesNameTheVariable) {
  struct Case {
    const char* var;
    const char* value;
  };
  const Case cases[] = {
      {"FOOHUT_DATABASE_URL", "mysql://x"},
      {"FOOHUT_REDIS_URL", "http://127.0.0.1:6379"},
      {"FOOHUT_REDIS_URL", "redis://127.0.0.1:99999"},
      {"FOOHUT_REDIS_URL", "redis://:6379"},
      {"FOOHUT_REDIS_URL", "redis://user:pw@host:6379"},  // pragma: allowlist secret (test URL)
      {"PORT", "http"},
      {"PORT", "70000"},
      {"PORT", "-1"},
      {"FOOHUT_VERSION", "1.0 beta"},
      {"FOOHUT_ENV", "prod"},
      {"FOOHUT_FAULTS", "errors=2"},
      {"FOOHUT_LOG_LEVEL", "verbose"},
      {"FOOHUT_SHUTDOWN_GRACE", "soon"},
  };
  for (const Case& c : cases) {
    auto vars = Minimal();
    vars[c.var] = c.value;
    absl::StatusOr<Config> config = ConfigFromEnv(FromMap(vars));
    ASSERT_FALSE(config.ok()) << c.var << "=" << c.value;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()), StartsWith(std::string(c.var) + ": "))
        << c.value;
  }
}

// A credentials file is checked at start: a missing file or a bad one names
// the variable and what is wrong, never a value from it.
TEST(ConfigTest, TheDatabaseCredentialsFileIsCheckedAtStart) {
  testing::TempDir dir;
  const std::string good = dir.path() + "/good.json", bad = dir.path() + "/bad.json",
                    half = dir.path() + "/half.json";
  std::ofstream(good) << R"({"engine":"postgres","username":"foohut_clone","password":"s3cr3t-value"})";  // pragma: allowlist secret (test fixture)
  std::ofstream(bad) << "s3cr3t-value not json";
  std::ofstream(half) << R"({"username":"foohut","password":""})";
  auto vars = Minimal();
  vars["FOOHUT_DATABASE_CREDENTIALS_FILE"] = good;
  absl::StatusOr<Config> c = ConfigFromEnv(FromMap(vars));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->database_credentials_file, good);
  for (const auto& [file, why] : std::vector<std::pair<std::string, std::string>>{
           {dir.path() + "/missing.json", "missing.json"},
           {bad, "not a JSON object"},
           {half, "\"password\" missing or not a string"}}) {
    vars["FOOHUT_DATABASE_CREDENTIALS_FILE"] = file;
    c = ConfigFromEnv(FromMap(vars));
    ASSERT_FALSE(c.ok()) << file;
    EXPECT_THAT(std::string(c.status().message()), StartsWith("FOOHUT_DATABASE_CREDENTIALS_FILE: "));
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(why));
    EXPECT_THAT(std::string(c.status().message()), ::testing::Not(HasSubstr("s3cr3t")));
  }
}

TEST(ConfigTest, BackendsRequired) {
  absl::StatusOr<Config> c = ConfigFromEnv(FromMap({}));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), StartsWith("FOOHUT_DATABASE_URL: not set"));
  c = ConfigFromEnv(FromMap({{"FOOHUT_DATABASE_URL", "postgres://x@y/z"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), StartsWith("FOOHUT_REDIS_URL: not set"));
  // Migrations need no Redis.
  EXPECT_TRUE(ConfigFromEnv(FromMap({{"FOOHUT_DATABASE_URL", "postgres://x@y/z"}}),
                            /*need_redis=*/false)
                  .ok());
  // Static mode needs neither, in any environment; what is set is still checked.
  EXPECT_TRUE(ConfigFromEnv(FromMap({{"FOOHUT_ENV", "production"}}), /*need_redis=*/false,
                            /*need_database=*/false)
                  .ok());
  EXPECT_FALSE(ConfigFromEnv(FromMap({{"FOOHUT_DATABASE_URL", "mysql://x"}}), false, false).ok());
}

TEST(ConfigTest, CorsOrigin) {
  auto with = [](std::string origin) {
    return ConfigFromEnv(FromMap({{"FOOHUT_CORS_ORIGIN", origin}}), false, false);
  };
  EXPECT_EQ(with("http://127.0.0.1:8081")->cors_origin, "http://127.0.0.1:8081");
  EXPECT_EQ(with("*")->cors_origin, "*");
  EXPECT_EQ(with("https://foohut.com")->cors_origin, "https://foohut.com");
  for (const char* bad : {"127.0.0.1:8081", "http://x/", "http://", "ftp://x", "http://a b"}) {
    EXPECT_FALSE(with(bad).ok()) << bad;
  }
}

TEST(ConfigTest, RedisUrlForms) {
  EXPECT_EQ(*ParseRedisUrl("redis://cache"), (RedisAddress{"cache", 6379}));
  EXPECT_EQ(*ParseRedisUrl("redis://cache:7000/"), (RedisAddress{"cache", 7000}));
  EXPECT_FALSE(ParseRedisUrl("redis://cache:0").ok());
  EXPECT_FALSE(ParseRedisUrl("redis://cache:7000/1").ok());
}

TEST(ConfigTest, RedisUserAndPasswordFile) {
  const std::string file = ::testing::TempDir() + "/redis-password";
  std::ofstream(file) << "s3cret\n";
  auto env = Minimal();
  env["FOOHUT_REDIS_URL"] = "redis://foohut@127.0.0.1:6380";
  env["FOOHUT_REDIS_PASSWORD_FILE"] = file;
  absl::StatusOr<Config> c = ConfigFromEnv(FromMap(env));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->redis.user, "foohut");
  EXPECT_EQ(c->redis.port, 6380);
  EXPECT_EQ(c->redis.password.Reveal(), "s3cret");
  env["FOOHUT_REDIS_PASSWORD_FILE"] = "/nonexistent";
  c = ConfigFromEnv(FromMap(env));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), StartsWith("FOOHUT_REDIS_PASSWORD_FILE: "));
  std::remove(file.c_str());
}

TEST(ResolveJwtKeysTest, MissingFileRefusedOutsideDevelopment) {
  for (Environment env : {Environment::kStaging, Environment::kProduction}) {
    Config c;
    c.env = env;
    absl::StatusOr<ResolvedKeys> keys = ResolveJwtKeys(c);
    ASSERT_FALSE(keys.ok());
    EXPECT_THAT(std::string(keys.status().message()), StartsWith("FOOHUT_JWT_KEYS_FILE: "));
  }
}

TEST(ResolveJwtKeysTest, EphemeralInDevelopment) {
  Config c;
  c.env = Environment::kDevelopment;
  absl::StatusOr<ResolvedKeys> keys = ResolveJwtKeys(c);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_TRUE(keys->ephemeral);
  EXPECT_THAT(keys->keys.active_kid, StartsWith("ephemeral-"));
  EXPECT_EQ(keys->keys.keys.at(keys->keys.active_kid).Reveal().size(), kMinJwtKeyBytes);
}

TEST(ResolveJwtKeysTest, FromFile) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/keys.json";
  std::ofstream(path) << R"({"active_kid": "k2", "keys": {)"
                      << R"("k1": "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",)"
                      << R"("k2": "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY"}})";  // pragma: allowlist secret (test key)
  Config c;
  c.jwt_keys_file = path;
  absl::StatusOr<ResolvedKeys> keys = ResolveJwtKeys(c);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_FALSE(keys->ephemeral);
  EXPECT_EQ(keys->keys.active_kid, "k2");
  EXPECT_EQ(keys->keys.keys.at("k1").Reveal(), "01234567890123456789012345678901");
  EXPECT_EQ(keys->keys.keys.at("k2").Reveal(), "abcdefghijklmnopqrstuvwxyzabcdef");

  c.jwt_keys_file = dir.path() + "/missing.json";
  keys = ResolveJwtKeys(c);
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(std::string(keys.status().message()), HasSubstr("missing.json"));
}

TEST(ParseJwtKeySetTest, BadFiles) {
  const char* cases[] = {
      "not json",
      "[]",
      R"({"keys": {"k1": "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="}})",
      R"({"active_kid": "k9", "keys": {"k1": "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="}})",
      R"({"active_kid": "k1", "keys": {"k1": "c2hvcnQ="}})",
      R"({"active_kid": "k1", "keys": {"k1": "***"}})",
      R"({"active_kid": "k1", "keys": {"k1": 5}})",
      R"({"active_kid": "k1", "keys": {}})",
  };
  for (const char* text : cases) {
    absl::StatusOr<JwtKeySet> set = ParseJwtKeySet(text);
    EXPECT_FALSE(set.ok()) << text;
    // Error messages never echo key material.
    EXPECT_THAT(std::string(set.status().message()), ::testing::Not(HasSubstr("MDEy")));
  }
}

}  // namespace
}  // namespace hut::foohut

namespace hut::foohut {
namespace {

TEST(ConfigTest, TracingAndMetricsVariables) {
  auto vars = Minimal();
  absl::StatusOr<Config> c = ConfigFromEnv(FromMap(vars));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->traces_endpoint, "");
  EXPECT_EQ(c->service_name, "foohut-api");
  EXPECT_TRUE(c->metrics);

  vars["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318/";
  vars["OTEL_SERVICE_NAME"] = "backend";
  vars["FOOHUT_METRICS"] = "off";
  c = ConfigFromEnv(FromMap(vars));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->traces_endpoint, "http://127.0.0.1:4318/v1/traces");
  EXPECT_EQ(c->service_name, "backend");
  EXPECT_FALSE(c->metrics);
  vars["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://collector:4318/custom";  // wins
  EXPECT_EQ(ConfigFromEnv(FromMap(vars))->traces_endpoint, "http://collector:4318/custom");

  vars["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "grpc://collector:4317";
  c = ConfigFromEnv(FromMap(vars));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), StartsWith("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
  vars.erase("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  vars["FOOHUT_METRICS"] = "maybe";
  c = ConfigFromEnv(FromMap(vars));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("FOOHUT_METRICS"));
}

}  // namespace
}  // namespace hut::foohut
