// foohut-api: the Foohut reference service.
//
//   foohut-api [serve] [--migrate]       serve HTTP until SIGTERM/SIGINT
//   foohut-api serve --static DIR        serve the files of DIR (the web front end)
//   foohut-api migrate up [N]            apply N (default: all) pending migrations
//   foohut-api migrate down [N]          revert the N (default: 1) newest
//   foohut-api migrate status            list migrations and whether applied
//
// Configuration comes from environment variables; see docs/foohut-api.md.
// Exit codes: 0 done (also after a graceful shutdown), 1 runtime failure,
// 2 bad configuration or usage, 70 crash_after fault.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "apps/foohut-api/api.h"
#include "apps/foohut-api/config.h"
#include "apps/foohut-api/db_login.h"
#include "apps/foohut-api/file_watcher.h"
#include "apps/foohut-api/migrations.h"
#include "apps/foohut-api/pg_store.h"
#include "apps/foohut-api/redis_cache.h"
#include "apps/foohut-api/static_site.h"
#include "apps/foohut-api/traced.h"
#include "src/tracing/tracing.h"
#include "src/common/secret.h"
#include "src/common/units.h"
#include "src/http/server.h"

namespace hut::foohut {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;
constexpr int kExitCrashFault = 70;

// Ends the process abruptly after `delay` unless Cancel() comes first: the
// crash_after fault. No destructors, no graceful shutdown, like a real crash.
class Crasher {
 public:
  Crasher(Duration delay, Logger log)
      : thread_([this, delay, log] {
          absl::MutexLock lock(&mu_);
          if (mu_.AwaitWithTimeout(absl::Condition(&cancelled_), absl::FromChrono(delay))) return;
          log.Error("crashing on purpose (FOOHUT_FAULTS crash_after)",
                    {{"after_ms", delay.count()}});
          _exit(kExitCrashFault);
        }) {}
  ~Crasher() {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    thread_.join();
  }

 private:
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after the members it uses
};

// Serves `handler` on the configured address until SIGTERM or SIGINT, then
// shuts down gracefully. The stop signals must be blocked in every thread.
int RunHttp(const Config& config, http::Handler handler, const Logger& log) {
  http::ServerOptions options;
  options.address = config.bind_address;
  options.port = config.port;
  absl::StatusOr<std::unique_ptr<http::Server>> server =
      http::Server::Start(options, std::move(handler));
  if (!server.ok()) {
    log.Error("cannot start the HTTP server", {{"error", server.status().ToString()},
                                               {"address", config.bind_address},
                                               {"port", config.port}});
    return kExitFailure;
  }
  log.Info("listening", {{"address", config.bind_address},
                         {"port", (*server)->port()},
                         {"version", config.version},
                         {"env", EnvironmentName(config.env)}});
  std::optional<Crasher> crasher;
  if (config.faults.any()) {
    log.Warn("fault injection on", {{"faults", config.faults.ToString()}});
    if (config.faults.crash_after) crasher.emplace(*config.faults.crash_after, log);
  }

  // The stop signals were blocked before any thread started; wait for one here.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  int sig = 0;
  sigwait(&stop, &sig);
  log.Info("shutting down", {{"signal", strsignal(sig)},
                             {"grace_ms", config.shutdown_grace.count()},
                             {"in_flight", (*server)->in_flight()}});
  crasher.reset();
  const bool clean = (*server)->Shutdown(config.shutdown_grace);
  if (clean) {
    log.Info("stopped");
  } else {
    log.Warn("stopped; some requests were cut short by the grace period");
  }
  return 0;
}

// What the process counts and traces, as the config says: `metrics` stops
// recording with FOOHUT_METRICS=off; the span exporter, when
// OTEL_EXPORTER_OTLP_*ENDPOINT says where (null otherwise), whose counts
// become foohut_trace_spans_total.
absl::StatusOr<std::unique_ptr<tracing::Exporter>> StartTelemetry(const Config& config, Metrics& metrics) {
  if (!config.metrics) metrics.StopRecording();
  if (config.traces_endpoint.empty()) return std::unique_ptr<tracing::Exporter>();
  tracing::ExporterOptions o;
  o.endpoint = config.traces_endpoint;
  o.resource = {{"service.name", config.service_name},
                {"service.version", config.version},
                {"deployment.environment.name", std::string(EnvironmentName(config.env))}};
  absl::StatusOr<std::unique_ptr<tracing::Exporter>> exporter = tracing::Exporter::Start(o);
  if (!exporter.ok()) return exporter.status();
  metrics.CountSpansWith([x = exporter->get()] {
    const tracing::Exporter::Stats s = x->stats();
    return std::map<std::string, uint64_t>{{"exported", s.exported}, {"dropped", s.dropped}, {"failed", s.failed}};
  });
  return exporter;
}

// FOOHUT_DATABASE_URL with the login of FOOHUT_DATABASE_CREDENTIALS_FILE
// when one is given (and that login, for the pool to follow).
absl::StatusOr<Secret> DatabaseUrl(const Config& config, std::optional<DatabaseLogin>* login = nullptr) {
  if (config.database_credentials_file.empty()) return config.database_url;
  absl::StatusOr<DatabaseLogin> l = LoadDatabaseLogin(config.database_credentials_file);
  if (!l.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("FOOHUT_DATABASE_CREDENTIALS_FILE: ", l.status().message()));
  }
  Secret url = WithLogin(config.database_url, *l);
  if (login != nullptr) *login = *std::move(l);
  return url;
}

int Serve(const Config& config, bool migrate_first, const Logger& log, const Clock& clock) {
  absl::StatusOr<ResolvedKeys> keys = ResolveJwtKeys(config);
  if (!keys.ok()) {
    log.Error(std::string(keys.status().message()));
    return kExitConfig;
  }
  if (keys->ephemeral) {
    log.Warn(
        "FOOHUT_JWT_KEYS_FILE not set: using an ephemeral JWT key (development only); "
        "tokens become invalid when this process stops",
        {{"kid", keys->keys.active_kid}});
  }
  std::optional<DatabaseLogin> login;
  absl::StatusOr<Secret> database_url = DatabaseUrl(config, &login);
  if (!database_url.ok()) {
    log.Error(std::string(database_url.status().message()));
    return kExitConfig;
  }
  if (migrate_first) {
    Migrator migrator(*database_url, log.ForComponent("migrate"));
    absl::StatusOr<int> applied = migrator.Up();
    if (!applied.ok()) {
      log.Error("migrations failed", {{"error", applied.status().ToString()}});
      return kExitFailure;
    }
  }

  Metrics metrics(config.version, EnvironmentName(config.env));
  absl::StatusOr<std::unique_ptr<tracing::Exporter>> tracer = StartTelemetry(config, metrics);
  if (!tracer.ok()) {
    log.Error(std::string(tracer.status().message()));
    return kExitConfig;
  }
  PgStore pg(config.database_url, log.ForComponent("store"));
  if (login) pg.UseLogin(*login);
  // A credential rotation rewrites the file: new connections log in with the
  // new credentials, the old ones close as their requests finish.
  std::optional<FileWatcher> login_watcher;
  if (login) {
    login_watcher.emplace(
        config.database_credentials_file,
        [&pg, &log, file = config.database_credentials_file](const Secret& content) {
          absl::StatusOr<DatabaseLogin> next = ParseDatabaseLogin(content);
          if (!next.ok()) {
            log.Error("database credentials file changed but is not valid; keeping the current login",
                      {{"file", file}, {"error", std::string(next.status().message())}});
            return false;
          }
          pg.UseLogin(*next);
          return true;
        },
        clock, std::chrono::seconds(1));
  }
  RedisCache redis(config.redis, clock);
  TracedStore store(pg, tracer->get(), clock);
  TracedCache cache(redis, tracer->get(), clock);
  JwtCodec jwt(std::move(keys->keys), clock);
  // A rotation rewrites the file: the new keys are taken without a restart.
  std::optional<JwtKeyFileWatcher> key_watcher;
  if (!keys->ephemeral) key_watcher.emplace(config.jwt_keys_file, jwt, log.ForComponent("jwt"), clock);
  metrics.ReportJwtKeysWith([&jwt] { return Metrics::JwtKeyIds{jwt.active_kid(), jwt.kids()}; });
  PasswordHasher passwords;
  Api api({.store = store,
           .cache = cache,
           .jwt = jwt,
           .passwords = passwords,
           .metrics = metrics,
           .clock = clock,
           .logger = log.ForComponent("http"),
           .faults = config.faults,
           .tracer = tracer->get()},
          {.cors_origin = config.cors_origin});

  return RunHttp(config, [&api](const http::Request& r) { return api.Handle(r); }, log);
}

int ServeStatic(const Config& config, const std::string& dir, const Logger& log,
                const Clock& clock) {
  StaticSite site({.root = dir});
  if (absl::Status s = site.Check(); !s.ok()) {
    log.Warn("static folder not ready; /readyz says so until it is", {{"error", s.ToString()}});
  }
  Metrics metrics(config.version, EnvironmentName(config.env));
  absl::StatusOr<std::unique_ptr<tracing::Exporter>> tracer = StartTelemetry(config, metrics);
  if (!tracer.ok()) {
    log.Error(std::string(tracer.status().message()));
    return kExitConfig;
  }
  StaticApp app({.site = site,
                 .metrics = metrics,
                 .clock = clock,
                 .logger = log.ForComponent("http"),
                 .faults = config.faults,
                 .tracer = tracer->get()});
  log.Info("serving static files", {{"dir", dir}});
  return RunHttp(config, [&app](const http::Request& r) { return app.Handle(r); }, log);
}

int Migrate(const Config& config, const std::string& direction, int count, const Logger& log) {
  absl::StatusOr<Secret> database_url = DatabaseUrl(config);
  if (!database_url.ok()) {
    log.Error(std::string(database_url.status().message()));
    return kExitConfig;
  }
  Migrator migrator(*database_url, log.ForComponent("migrate"));
  if (direction == "status") {
    absl::StatusOr<std::vector<MigrationState>> states = migrator.Status();
    if (!states.ok()) {
      log.Error("migrate status failed", {{"error", states.status().ToString()}});
      return kExitFailure;
    }
    for (const MigrationState& s : *states) {
      std::cout << absl::StrFormat("%4d  %-24s %s\n", s.version, s.name,
                                   s.applied ? "applied " + s.applied_at : "pending");
    }
    return 0;
  }
  absl::StatusOr<int> done = direction == "up"
                                 ? migrator.Up(count < 0 ? std::nullopt : std::optional(count))
                                 : migrator.Down(count < 0 ? 1 : count);
  if (!done.ok()) {
    log.Error(absl::StrCat("migrate ", direction, " failed"),
              {{"error", done.status().ToString()}});
    return kExitFailure;
  }
  std::cout << (direction == "up" ? "applied " : "reverted ") << *done << " migration"
            << (*done == 1 ? "" : "s") << "\n";
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"foohut-api: the Foohut reference service"};
  app.require_subcommand(0, 1);
  bool migrate_first = false;
  CLI::App* serve = app.add_subcommand("serve", "Serve HTTP until SIGTERM or SIGINT (default)");
  serve->add_flag("--migrate", migrate_first, "Apply pending migrations before serving");
  std::string static_dir;
  serve->add_option("--static", static_dir, "Serve the files of DIR instead of the pages API")
      ->type_name("DIR")
      ->excludes("--migrate");
  CLI::App* migrate = app.add_subcommand("migrate", "Database schema migrations");
  migrate->require_subcommand(1);
  int count = -1;
  migrate->add_subcommand("up", "Apply N pending migrations (default: all)")
      ->add_option("N", count)
      ->check(CLI::Range(0, 1000));
  migrate->add_subcommand("down", "Revert the N newest migrations (default: 1)")
      ->add_option("N", count)
      ->check(CLI::Range(0, 1000));
  migrate->add_subcommand("status", "List migrations");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitConfig;
  }

  const bool serving = !migrate->parsed();
  if (serving) {
    // Before any thread exists, so that every thread inherits the mask and
    // only sigwait() in Serve() sees the signals.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  }

  RealClock clock;
  StreamLogSink sink(stderr);
  Logger boot(sink, clock, "foohut-api");
  const bool serving_static = serving && !static_dir.empty();
  absl::StatusOr<Config> config =
      ConfigFromEnv(ProcessEnv(), /*need_redis=*/serving && !serving_static,
                    /*need_database=*/!serving_static);
  if (!config.ok()) {
    boot.Error(absl::StrCat("bad configuration: ", config.status().message()));
    return kExitConfig;
  }
  Logger log(sink, clock, "foohut-api", config->log_level);
  if (serving_static) return ServeStatic(*config, static_dir, log, clock);
  if (serving) return Serve(*config, migrate_first, log, clock);
  for (const char* direction : {"up", "down", "status"}) {
    if (migrate->got_subcommand(direction)) return Migrate(*config, direction, count, log);
  }
  return kExitConfig;
}

}  // namespace
}  // namespace hut::foohut

int main(int argc, char** argv) {
  hut::NoCoreDumps();  // it holds the database login and the JWT keys
  return hut::foohut::Main(argc, argv);
}
