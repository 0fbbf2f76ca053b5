#include "src/local/postgres_server.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/local/server_util.h"

namespace hut::local {
namespace {

namespace fs = std::filesystem;

// Debian installs each major version under /usr/lib/postgresql/<major>/bin.
absl::StatusOr<std::string> FindPostgresBinDir() {
  std::string best;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    fs::path bin = entry.path() / "bin";
    if (fs::exists(bin / "postgres") && (best.empty() || bin.string() > best)) best = bin;
  }
  if (best.empty()) {
    return absl::NotFoundError(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres; run "
        "scripts/install-deps.sh)");
  }
  return best;
}

// initdb and postgres refuse to run as root: as root, run them as "postgres".
std::vector<std::string> AsPostgresUser(std::vector<std::string> argv) {
  if (geteuid() != 0) return argv;
  std::vector<std::string> out = {"setpriv",      "--reuid=postgres", "--regid=postgres",
                                  "--init-groups", "--pdeathsig=KILL"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

absl::Status Psql(const std::string& bin_dir, uint16_t port, const std::string& database,
                  const std::string& sql, std::string* output = nullptr) {
  ProcessOptions opts;
  opts.working_dir = "/";  // the postgres user may not reach ours
  opts.argv = {bin_dir + "/psql", "-h", "127.0.0.1", "-p", std::to_string(port), "-U", "postgres",
               "-d", database, "-v", "ON_ERROR_STOP=1", "-Atqc", sql};
  opts.env["PGCONNECT_TIMEOUT"] = "5";
  HUT_ASSIGN_OR_RETURN(CommandResult r, RunCommand(opts, std::chrono::seconds(30)));
  if (!r.status.success()) {
    return absl::InternalError(absl::StrCat("psql failed (", r.status.ToString(), "): ", r.output));
  }
  if (output != nullptr) *output = r.output;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(
    const PostgresOptions& options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("PostgreSQL: empty data_dir");
  HUT_ASSIGN_OR_RETURN(std::string bin_dir, FindPostgresBinDir());
  std::unique_ptr<PostgresServer> server(new PostgresServer(options));
  PostgresOptions& opts = server->options_;
  opts.data_dir = fs::absolute(opts.data_dir).lexically_normal().string();
  if (opts.log_file.empty()) opts.log_file = opts.data_dir + ".log";

  std::error_code ec;
  if (!fs::exists(fs::path(opts.data_dir) / "PG_VERSION")) {
    fs::create_directories(opts.data_dir, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot create PostgreSQL data folder ", opts.data_dir, ": ", ec.message()));
    }
    HUT_RETURN_IF_ERROR(GiveToUser(opts.data_dir, "postgres", 0700));
    ProcessOptions init;
    init.working_dir = "/";  // the postgres user may not reach ours
    init.argv = AsPostgresUser({bin_dir + "/initdb", "-D", opts.data_dir, "-U", "postgres",
                                "--auth=trust", "--encoding=UTF8", "--no-locale"});
    HUT_ASSIGN_OR_RETURN(CommandResult r, RunCommand(init, std::chrono::seconds(120)));
    if (!r.status.success()) {
      return absl::InternalError(
          absl::StrCat("initdb failed (", r.status.ToString(), "):\n", r.output));
    }
  }

  ProcessOptions run;
  run.working_dir = "/";  // the postgres user may not reach ours
  run.argv = AsPostgresUser({bin_dir + "/postgres", "-D", opts.data_dir, "-p",
                             std::to_string(opts.port), "-c", "listen_addresses=127.0.0.1",
                             "-c", "unix_socket_directories=" + opts.data_dir});
  if (opts.unsafe_no_fsync) {
    for (const char* setting : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
      run.argv.push_back("-c");
      run.argv.push_back(setting);
    }
  }
  run.stdout_mode = OutputMode::kFile;
  run.stdout_path = opts.log_file;
  run.stderr_mode = OutputMode::kFile;
  run.stderr_path = opts.log_file;
  HUT_ASSIGN_OR_RETURN(server->process_, Process::Spawn(run));

  auto deadline = std::chrono::steady_clock::now() + opts.start_timeout;
  while (true) {
    if (auto exited = server->process_->TryWait()) {
      server->process_.reset();
      return absl::UnavailableError(absl::StrCat("PostgreSQL on port ", opts.port, " exited (",
                                                 exited->ToString(), "); its log ends:\n",
                                                 TailOfFile(opts.log_file, 2000)));
    }
    // Another server may already hold the port: only ours counts as ready.
    std::string data_dir;
    if (Psql(bin_dir, opts.port, "postgres", "SHOW data_directory", &data_dir).ok()) {
      if (data_dir == opts.data_dir + "\n") break;
      server->Stop();
      return absl::AlreadyExistsError(absl::StrCat("port ", opts.port,
                                                   " is held by another PostgreSQL (data in ",
                                                   data_dir.substr(0, data_dir.size() - 1), ")"));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      server->Stop();
      return absl::DeadlineExceededError(absl::StrCat(
          "PostgreSQL on port ", opts.port, " not ready within ", opts.start_timeout.count(),
          " ms; its log ends:\n", TailOfFile(opts.log_file, 2000)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // The application's role and database, created once.
  std::string exists;
  HUT_RETURN_IF_ERROR(Psql(bin_dir, opts.port, "postgres",
                           absl::StrCat("SELECT 1 FROM pg_roles WHERE rolname = '", opts.user, "'"),
                           &exists));
  if (exists.empty()) {
    HUT_RETURN_IF_ERROR(
        Psql(bin_dir, opts.port, "postgres", absl::StrCat("CREATE ROLE \"", opts.user, "\" LOGIN")));
  }
  exists.clear();
  HUT_RETURN_IF_ERROR(Psql(
      bin_dir, opts.port, "postgres",
      absl::StrCat("SELECT 1 FROM pg_database WHERE datname = '", opts.database, "'"), &exists));
  if (exists.empty()) {
    HUT_RETURN_IF_ERROR(Psql(bin_dir, opts.port, "postgres",
                             absl::StrCat("CREATE DATABASE \"", opts.database, "\" OWNER \"",
                                          opts.user, "\"")));
  }
  return server;
}

PostgresServer::~PostgresServer() { Stop(); }

std::string PostgresServer::url() const {
  return absl::StrCat("postgresql://", options_.user, "@127.0.0.1:", options_.port, "/",
                      options_.database);
}

void PostgresServer::Stop() {
  if (!process_) return;
  // SIGINT is PostgreSQL's "fast" shutdown: abort transactions, checkpoint, exit.
  process_->Stop(std::chrono::seconds(10), SIGINT);
  process_.reset();
}

}  // namespace hut::local
