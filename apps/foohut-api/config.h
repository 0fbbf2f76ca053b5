#ifndef HUT_APPS_FOOHUT_API_CONFIG_H_
#define HUT_APPS_FOOHUT_API_CONFIG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "apps/foohut-api/faults.h"
#include "apps/foohut-api/jwt.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/common/secret.h"

namespace hut::foohut {

enum class Environment { kDevelopment, kStaging, kProduction };
std::string_view EnvironmentName(Environment env);

struct RedisAddress {
  std::string host;
  uint16_t port = 6379;
  std::string user;  // ACL user from redis://USER@host:port; "" for none
  // FOOHUT_REDIS_PASSWORD_FILE's content (first line): sent with AUTH after
  // connecting, when set.
  Secret password;
  friend bool operator==(const RedisAddress& a, const RedisAddress& b) {
    return a.host == b.host && a.port == b.port && a.user == b.user &&
           a.password.Reveal() == b.password.Reveal();
  }
};

// Everything foohut-api reads from its environment, parsed and validated once.
// Defaults are those of the fields.
struct Config {
  Secret database_url;                     // FOOHUT_DATABASE_URL: libpq URI (may hold a password)
  // FOOHUT_DATABASE_CREDENTIALS_FILE: the login to use instead of the URI's
  // (db_login.h), followed while serving; checked readable and valid here.
  std::string database_credentials_file;
  RedisAddress redis;                      // FOOHUT_REDIS_URL: redis://host[:port]
  std::string jwt_keys_file;               // FOOHUT_JWT_KEYS_FILE: empty when unset
  std::string bind_address = "127.0.0.1";  // FOOHUT_BIND_ADDRESS
  uint16_t port = 8080;                    // PORT (0: any free port, logged)
  std::string version = "dev";             // FOOHUT_VERSION
  Environment env = Environment::kProduction;          // FOOHUT_ENV
  Faults faults;                                       // FOOHUT_FAULTS
  LogLevel log_level = LogLevel::kInfo;                // FOOHUT_LOG_LEVEL
  Duration shutdown_grace = std::chrono::seconds(30);  // FOOHUT_SHUTDOWN_GRACE
  // FOOHUT_CORS_ORIGIN: "scheme://host[:port]" or "*" allowed to call /api/
  // from a browser; empty: none.
  std::string cors_origin;
  // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (http://HOST:PORT/v1/traces), else
  // OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces": where spans go; empty: no tracing.
  std::string traces_endpoint;
  std::string service_name = "foohut-api";  // OTEL_SERVICE_NAME
  bool metrics = true;  // FOOHUT_METRICS=off: count nothing (to measure what counting costs)
};

// Looks a variable up; nullopt when unset. Empty values count as unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment.
EnvLookup ProcessEnv();

// Parses every variable; the first bad one is an InvalidArgument error whose
// message starts with the variable's name. FOOHUT_DATABASE_URL is required
// when `need_database` (not in static mode); FOOHUT_REDIS_URL when
// `need_redis` (serving the API, not migrating). Variables that are set are
// validated either way.
absl::StatusOr<Config> ConfigFromEnv(const EnvLookup& env, bool need_redis = true,
                                     bool need_database = true);

absl::StatusOr<RedisAddress> ParseRedisUrl(std::string_view url);

struct ResolvedKeys {
  JwtKeySet keys;
  bool ephemeral = false;  // made up at start: tokens die with the process
};
// The JWT keys to use: the keys file's, or an ephemeral key in development
// only. Outside development a missing file is a FailedPrecondition error.
absl::StatusOr<ResolvedKeys> ResolveJwtKeys(const Config& config);

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_CONFIG_H_
