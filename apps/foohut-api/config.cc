#include "apps/foohut-api/config.h"

#include <charconv>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "apps/foohut-api/db_login.h"
#include "apps/foohut-api/strings.h"
#include "src/common/resources.h"
#include "src/common/units.h"

namespace hut::foohut {
namespace {

absl::Status Bad(std::string_view var, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(Absl(var), ": ", Absl(why)));
}

absl::StatusOr<uint16_t> ParsePort(std::string_view text) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", Absl(text), "\" is not a port number (0-65535)"));
  }
  return static_cast<uint16_t>(value);
}

// "*" or scheme://host[:port] with nothing after: what a browser sends in Origin.
bool IsOrigin(std::string_view v) {
  if (v == "*") return true;
  std::string_view rest;
  if (v.starts_with("http://")) {
    rest = v.substr(7);
  } else if (v.starts_with("https://")) {
    rest = v.substr(8);
  } else {
    return false;
  }
  if (rest.empty()) return false;
  for (char ch : rest) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
                    ch == '-' || ch == ':' || ch == '[' || ch == ']';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string_view EnvironmentName(Environment env) {
  switch (env) {
    case Environment::kDevelopment:
      return "development";
    case Environment::kStaging:
      return "staging";
    case Environment::kProduction:
      return "production";
  }
  return "production";
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

absl::StatusOr<RedisAddress> ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", Absl(url), "\" is not a redis://host:port URL"));
  }
  std::string_view rest = url.substr(kScheme.size());
  if (rest.ends_with("/")) rest.remove_suffix(1);
  RedisAddress address;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    const std::string_view user = rest.substr(0, at);
    if (user.find(':') != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", Absl(url), "\": no password in the URL (put it in FOOHUT_REDIS_PASSWORD_FILE)"));
    }
    if (user.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("\"", Absl(url), "\": empty user before @"));
    }
    address.user = std::string(user);
    rest.remove_prefix(at + 1);
  }
  if (rest.find('@') != std::string_view::npos || rest.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", Absl(url), "\": only redis://[user@]host:port is supported (no database)"));
  }
  std::string_view host = rest;
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    absl::StatusOr<uint16_t> port = ParsePort(rest.substr(colon + 1));
    if (!port.ok() || *port == 0) {
      return absl::InvalidArgumentError(absl::StrCat("\"", Absl(url), "\": bad port"));
    }
    address.port = *port;
  }
  if (host.empty()) return absl::InvalidArgumentError(absl::StrCat("\"", Absl(url), "\": no host"));
  address.host = std::string(host);
  return address;
}

absl::StatusOr<Config> ConfigFromEnv(const EnvLookup& env, bool need_redis,
                                     bool need_database) {
  Config c;
  if (auto v = env("FOOHUT_DATABASE_URL")) {
    if (!v->starts_with("postgresql://") && !v->starts_with("postgres://")) {
      return Bad("FOOHUT_DATABASE_URL",
                 "expected a libpq URI such as postgresql://user@host:5432/db");
    }
    c.database_url = Secret(*v);
  } else if (need_database) {
    return Bad("FOOHUT_DATABASE_URL", "not set (a libpq URI such as postgresql://user@host/db)");
  }
  if (auto v = env("FOOHUT_DATABASE_CREDENTIALS_FILE")) {
    absl::StatusOr<DatabaseLogin> login = LoadDatabaseLogin(*v);
    if (!login.ok()) return Bad("FOOHUT_DATABASE_CREDENTIALS_FILE", Msg(login.status()));
    c.database_credentials_file = *v;
  }
  if (auto v = env("FOOHUT_REDIS_URL")) {
    absl::StatusOr<RedisAddress> r = ParseRedisUrl(*v);
    if (!r.ok()) return Bad("FOOHUT_REDIS_URL", Msg(r.status()));
    c.redis = *r;
  } else if (need_redis) {
    return Bad("FOOHUT_REDIS_URL", "not set (redis://host:port)");
  }
  if (auto v = env("FOOHUT_REDIS_PASSWORD_FILE")) {
    absl::StatusOr<std::string> text = ReadFileCapped(*v, 4096);
    if (!text.ok()) return Bad("FOOHUT_REDIS_PASSWORD_FILE", Msg(text.status()));
    std::string password = text->substr(0, text->find_first_of("\r\n"));
    if (password.empty()) return Bad("FOOHUT_REDIS_PASSWORD_FILE", *v + ": the file is empty");
    c.redis.password = Secret(std::move(password));
  }
  if (auto v = env("FOOHUT_JWT_KEYS_FILE")) c.jwt_keys_file = *v;
  if (auto v = env("FOOHUT_BIND_ADDRESS")) c.bind_address = *v;
  if (auto v = env("PORT")) {
    absl::StatusOr<uint16_t> p = ParsePort(*v);
    if (!p.ok()) return Bad("PORT", Msg(p.status()));
    c.port = *p;
  }
  if (auto v = env("FOOHUT_VERSION")) {
    if (v->size() > 128) return Bad("FOOHUT_VERSION", "longer than 128 characters");
    for (char ch : *v) {
      if (static_cast<unsigned char>(ch) < 0x21 || ch == 0x7f) {
        return Bad("FOOHUT_VERSION", "must not contain spaces or control characters");
      }
    }
    c.version = *v;
  }
  if (auto v = env("FOOHUT_ENV")) {
    if (*v == "development") {
      c.env = Environment::kDevelopment;
    } else if (*v == "staging") {
      c.env = Environment::kStaging;
    } else if (*v == "production") {
      c.env = Environment::kProduction;
    } else {
      return Bad("FOOHUT_ENV",
                 absl::StrCat("\"", *v, "\" is not development, staging or production"));
    }
  }
  if (auto v = env("FOOHUT_FAULTS")) {
    absl::StatusOr<Faults> f = ParseFaults(*v);
    if (!f.ok()) return Bad("FOOHUT_FAULTS", Msg(f.status()));
    c.faults = *f;
  }
  if (auto v = env("FOOHUT_LOG_LEVEL")) {
    std::optional<LogLevel> l = ParseLogLevel(*v);
    if (!l)
      return Bad("FOOHUT_LOG_LEVEL",
                 absl::StrCat("\"", *v, "\" is not ERROR, WARN, INFO or DEBUG"));
    c.log_level = *l;
  }
  if (auto v = env("FOOHUT_SHUTDOWN_GRACE")) {
    absl::StatusOr<Duration> d = ParseDuration(*v);
    if (!d.ok()) return Bad("FOOHUT_SHUTDOWN_GRACE", Msg(d.status()));
    c.shutdown_grace = *d;
  }
  if (auto v = env("FOOHUT_CORS_ORIGIN")) {
    if (!IsOrigin(*v)) {
      return Bad("FOOHUT_CORS_ORIGIN",
                 absl::StrCat("\"", *v, "\" is not \"*\" or an origin such as http://host:8081"));
    }
    c.cors_origin = *v;
  }
  if (auto v = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
    c.traces_endpoint = *v;
  } else if (auto base = env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
    c.traces_endpoint = absl::StrCat(absl::StripSuffix(*base, "/"), "/v1/traces");
  }
  if (!c.traces_endpoint.empty() && !c.traces_endpoint.starts_with("http://")) {
    return Bad("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
               absl::StrCat("\"", c.traces_endpoint, "\" is not an http:// URL such as http://127.0.0.1:4318/v1/traces"));
  }
  if (auto v = env("OTEL_SERVICE_NAME")) c.service_name = *v;
  if (auto v = env("FOOHUT_METRICS")) {
    if (*v != "on" && *v != "off") return Bad("FOOHUT_METRICS", absl::StrCat("\"", *v, "\" is not on or off"));
    c.metrics = *v == "on";
  }
  return c;
}

absl::StatusOr<ResolvedKeys> ResolveJwtKeys(const Config& config) {
  ResolvedKeys out;
  if (config.jwt_keys_file.empty()) {
    if (config.env != Environment::kDevelopment) {
      return absl::FailedPreconditionError(absl::StrCat(
          "FOOHUT_JWT_KEYS_FILE: not set; it is required outside development (FOOHUT_ENV=",
          Absl(EnvironmentName(config.env)), ")"));
    }
    out.keys = EphemeralJwtKeySet();
    out.ephemeral = true;
    return out;
  }
  absl::StatusOr<JwtKeySet> keys = LoadJwtKeySet(config.jwt_keys_file);
  if (!keys.ok()) return Bad("FOOHUT_JWT_KEYS_FILE", Msg(keys.status()));
  out.keys = std::move(*keys);
  return out;
}

}  // namespace hut::foohut
