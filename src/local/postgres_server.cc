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

// Runs psql as the superuser through the Unix socket in the data folder
// (peer authentication as the "postgres" OS user). `env` reaches psql only:
// a password passed this way (\getenv) never shows in a command line.
absl::Status Psql(const std::string& bin_dir, const std::string& socket_dir, uint16_t port,
                  const std::string& database, const std::vector<std::string>& commands,
                  std::string* output = nullptr,
                  const std::map<std::string, std::string>& env = {},
                  const std::string& script = "") {
  ProcessOptions opts;
  opts.working_dir = "/";  // the postgres user may not reach ours
  std::vector<std::string> argv = {bin_dir + "/psql", "-h", socket_dir, "-p",
                                   std::to_string(port), "-U", "postgres", "-d", database,
                                   "-v", "ON_ERROR_STOP=1", "-Atq"};
  for (const std::string& c : commands) argv.insert(argv.end(), {"-c", c});
  if (!script.empty()) argv.insert(argv.end(), {"-f", script});
  opts.argv = AsPostgresUser(argv);
  opts.env = env;
  opts.env["PGCONNECT_TIMEOUT"] = "5";
  HUT_ASSIGN_OR_RETURN(CommandResult r, RunCommand(opts, std::chrono::seconds(30)));
  if (!r.status.success()) {
    return absl::InternalError(absl::StrCat("psql failed (", r.status.ToString(), "): ", r.output));
  }
  if (output != nullptr) *output = r.output;
  return absl::OkStatus();
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

// The password in `path` ("*:*:*:USER:PASSWORD"), created when missing.
absl::StatusOr<std::string> EnsurePassword(const std::string& path, const std::string& user) {
  if (fs::exists(path)) {
    HUT_ASSIGN_OR_RETURN(std::string line, ReadFileCapped(path, 4096));
    const std::string prefix = absl::StrCat("*:*:*:", user, ":");
    line = line.substr(0, line.find('\n'));
    if (!line.starts_with(prefix) || line.size() == prefix.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": not a password file for ", user, " (expected \"", prefix, "PASSWORD\")"));
    }
    return line.substr(prefix.size());
  }
  const Secret password = RandomSecretHex(24);
  HUT_RETURN_IF_ERROR(
      WritePrivateFile(path, absl::StrCat("*:*:*:", user, ":", password.Reveal(), "\n")));
  return password.Reveal();
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
  HUT_ASSIGN_OR_RETURN(const std::string password, EnsurePassword(opts.password_file, opts.user));
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
    if (Psql(bin_dir, opts.data_dir, opts.port, "postgres", {"SHOW data_directory"}, &data_dir)
            .ok()) {
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

  // The application's role and database, created once; the role's password
  // set from its file at every start (the file is the source of truth).
  const std::string role = absl::StrCat("\"", opts.user, "\"");
  std::string exists;
  HUT_RETURN_IF_ERROR(Psql(bin_dir, opts.data_dir, opts.port, "postgres",
                           {absl::StrCat("SELECT 1 FROM pg_roles WHERE rolname = '", opts.user,
                                         "'")},
                           &exists));
  if (exists.empty()) {
    HUT_RETURN_IF_ERROR(Psql(bin_dir, opts.data_dir, opts.port, "postgres",
                             {absl::StrCat("CREATE ROLE ", role, " LOGIN")}));
  }
  // psql interpolates variables in a script, not in -c: the script holds no
  // secret, the password comes from psql's environment.
  const std::string script = opts.data_dir + "/hut-set-password.sql";
  {
    std::ofstream out(script, std::ios::trunc);
    out << "SET password_encryption = 'scram-sha-256';\n"  // pragma: allowlist secret (a setting's name)
        << "\\getenv password HUT_ROLE_PASSWORD\n"
        << "ALTER ROLE " << role << " LOGIN PASSWORD :'password';\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", script));
  }
  HUT_RETURN_IF_ERROR(GiveToUser(script, "postgres", 0600));
  const absl::Status set = Psql(bin_dir, opts.data_dir, opts.port, "postgres",
                                {}, nullptr, {{"HUT_ROLE_PASSWORD", password}}, script);
  fs::remove(script, ec);
  HUT_RETURN_IF_ERROR(set);
  exists.clear();
  HUT_RETURN_IF_ERROR(Psql(
      bin_dir, opts.data_dir, opts.port, "postgres",
      {absl::StrCat("SELECT 1 FROM pg_database WHERE datname = '", opts.database, "'")},
      &exists));
  if (exists.empty()) {
    HUT_RETURN_IF_ERROR(Psql(bin_dir, opts.data_dir, opts.port, "postgres",
                             {absl::StrCat("CREATE DATABASE \"", opts.database, "\" OWNER ",
                                           role)}));
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
