#include "src/local/postgres_server.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <vector>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "src/common/resources.h"
#include "src/common/secret.h"
#include "src/common/status.h"
#include "src/local/server_util.h"
#include "src/secrets/database_rotation.h"

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

// What `path` holds from byte `offset` on (at most 64 KiB); "" if unreadable.
std::string ReadFrom(const std::string& path, size_t offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string out(64 * 1024, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return out;
}

// Who may log in, and how: written at every start, so an older cluster's
// "trust" lines go too.
constexpr char kHba[] =
    "# Written by hut at every start; edits are lost.\n"
    "local all postgres peer\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
    "host all all ::1/128 scram-sha-256\n";

// The login in `path` ("*:*:*:USER:PASSWORD"), created for `user` with a
// random password when missing. USER may be another login role than `user`
// (a credential rotation alternates between two).
absl::StatusOr<std::pair<std::string, Secret>> EnsurePassword(const std::string& path,
                                                              const std::string& user) {
  if (fs::exists(path)) {
    HUT_ASSIGN_OR_RETURN(std::string text, ReadFileCapped(path, 4096));
    absl::StatusOr<secrets::DatabaseCredentials> login =
        secrets::ParsePasswordFileLine(Secret(std::move(text)));
    if (!login.ok() || !ValidRoleName(login->username)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": not a password file (expected \"*:*:*:USER:PASSWORD\")"));
    }
    return std::pair(login->username, std::move(login->password));
  }
  secrets::DatabaseCredentials made{.username = user, .password = RandomSecretHex(24)};
  HUT_RETURN_IF_ERROR(WritePrivateFile(path, secrets::PasswordFileLine(made).Reveal()));
  return std::pair(user, std::move(made.password));
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
                                "--auth-local=peer", "--auth-host=scram-sha-256",
                                "--encoding=UTF8", "--no-locale"});
    HUT_ASSIGN_OR_RETURN(CommandResult r, RunCommand(init, std::chrono::seconds(120)));
    if (!r.status.success()) {
      return absl::InternalError(
          absl::StrCat("initdb failed (", r.status.ToString(), "):\n", r.output));
    }
  }

  if (opts.password_file.empty()) opts.password_file = opts.data_dir + ".pgpass";
  if (!ValidRoleName(opts.user)) {
    return absl::InvalidArgumentError(
        absl::StrCat("PostgreSQL: bad role name \"", opts.user, "\" (lowercase letters, digits, '_')"));
  }
  HUT_ASSIGN_OR_RETURN(auto login, EnsurePassword(opts.password_file, opts.user));
  if (opts.monitor_password_file.empty()) opts.monitor_password_file = opts.data_dir + ".monitor.pgpass";
  if (!ValidRoleName(opts.monitor_user) || opts.monitor_user == opts.user) {
    return absl::InvalidArgumentError(
        absl::StrCat("PostgreSQL: bad monitoring role name \"", opts.monitor_user, "\""));
  }
  HUT_ASSIGN_OR_RETURN(auto monitor, EnsurePassword(opts.monitor_password_file, opts.monitor_user));
  server->logins_ = std::make_unique<PostgresLogins>(PostgresAddress{
      .bin_dir = bin_dir, .socket_dir = opts.data_dir, .port = opts.port,
      .database = opts.database, .owner = opts.user});
  const std::string hba = opts.data_dir + "/pg_hba.conf";
  {
    std::ofstream out(hba, std::ios::trunc);
    out << kHba;
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", hba));
  }
  HUT_RETURN_IF_ERROR(GiveToUser(hba, "postgres", 0600));

  ProcessOptions run;
  run.working_dir = "/";  // the postgres user may not reach ours
  run.argv = AsPostgresUser({bin_dir + "/postgres", "-D", opts.data_dir, "-p",
                             std::to_string(opts.port), "-c", "listen_addresses=127.0.0.1",
                             "-c", "unix_socket_directories=" + opts.data_dir,
                             // One JSON file, appended to, never rotated:
                             // hut follows it into the log store.
                             "-c", "logging_collector=on", "-c", "log_destination=jsonlog",
                             "-c", "log_directory=log", "-c", "log_filename=postgresql.log",
                             "-c", "log_rotation_age=0", "-c", "log_rotation_size=0",
                             "-c", "log_timezone=UTC"});
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
  auto log_size = [&opts] {
    std::error_code size_ec;
    const auto size = fs::file_size(opts.log_file, size_ec);
    return size_ec ? 0 : static_cast<size_t>(size);
  };
  size_t log_start = log_size();
  HUT_ASSIGN_OR_RETURN(server->process_, Process::Spawn(run));

  auto deadline = std::chrono::steady_clock::now() + opts.start_timeout;
  while (true) {
    if (auto exited = server->process_->TryWait()) {
      server->process_.reset();
      // The previous server of this folder is still going away (it died
      // with a hut that was killed, and it or one of its backends still
      // holds the lock file or the shared memory): wait, then start again.
      const std::string said = ReadFrom(opts.log_file, log_start);
      if ((said.find("is still in use") != std::string::npos ||
           said.find("already exists") != std::string::npos) &&
          std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        log_start = log_size();
        HUT_ASSIGN_OR_RETURN(server->process_, Process::Spawn(run));
        continue;
      }
      return absl::UnavailableError(absl::StrCat("PostgreSQL on port ", opts.port, " exited (",
                                                 exited->ToString(), "); its log ends:\n",
                                                 TailOfFile(opts.log_file, 2000)));
    }
    // Another server may already hold the port: only ours counts as ready.
    std::string data_dir;
    if (server->logins_->Sql({"SHOW data_directory"}, &data_dir).ok()) {
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

  // The application's role and database, created once; the password file's
  // login set at every start (the file is the source of truth).
  const std::string role = absl::StrCat("\"", opts.user, "\"");
  std::string exists;
  HUT_RETURN_IF_ERROR(server->logins_->Sql(
      {absl::StrCat("SELECT 1 FROM pg_roles WHERE rolname = '", opts.user, "'")}, &exists));
  if (exists.empty()) {
    HUT_RETURN_IF_ERROR(server->logins_->Sql({absl::StrCat("CREATE ROLE ", role, " LOGIN")}));
  }
  HUT_RETURN_IF_ERROR(server->logins_->SetPassword(login.first, login.second));
  HUT_RETURN_IF_ERROR(server->logins_->SetMonitorPassword(opts.monitor_user, monitor.second));
  exists.clear();
  HUT_RETURN_IF_ERROR(server->logins_->Sql(
      {absl::StrCat("SELECT 1 FROM pg_database WHERE datname = '", opts.database, "'")}, &exists));
  if (exists.empty()) {
    HUT_RETURN_IF_ERROR(
        server->logins_->Sql({absl::StrCat("CREATE DATABASE \"", opts.database, "\" OWNER ", role)}));
  }
  return server;
}

PostgresServer::~PostgresServer() { Stop(); }

std::optional<std::string> PostgresServer::Down() { return DownReason(process_.get()); }

absl::Status PostgresServer::Restart() {
  Stop();
  HUT_ASSIGN_OR_RETURN(std::unique_ptr<PostgresServer> fresh, Start(options_));
  process_ = std::move(fresh->process_);
  return absl::OkStatus();
}

std::string PostgresServer::base_url() const {
  return absl::StrCat("postgresql://", options_.user, "@127.0.0.1:", options_.port, "/",
                      options_.database);
}

std::string PostgresServer::monitor_url() const {
  return absl::StrCat("postgresql://", options_.monitor_user, "@127.0.0.1:", options_.port, "/",
                      options_.database);
}

std::string PostgresServer::UrlWithPassfile(const std::string& passfile) const {
  return absl::StrCat(base_url(), "?passfile=", passfile);
}

void PostgresServer::Stop() {
  if (!process_) return;
  // SIGINT is PostgreSQL's "fast" shutdown: abort transactions, checkpoint, exit.
  process_->Stop(std::chrono::seconds(10), SIGINT);
  process_.reset();
}

}  // namespace hut::local
