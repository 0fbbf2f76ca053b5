#include "src/local/postgres_logins.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/common/subprocess.h"
#include "src/local/server_util.h"

namespace hut::local {

namespace fs = std::filesystem;

bool ValidRoleName(std::string_view name) {
  return !name.empty() && name.size() <= 63 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

std::vector<std::string> AsPostgresUser(std::vector<std::string> argv) {
  if (geteuid() != 0) return argv;
  std::vector<std::string> out = {"setpriv",      "--reuid=postgres", "--regid=postgres",
                                  "--init-groups", "--pdeathsig=KILL"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

namespace {

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

absl::Status CheckRoleName(const std::string& user) {
  if (ValidRoleName(user)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("bad role name \"", user, "\" (lowercase letters, digits, '_')"));
}

}  // namespace

absl::Status PostgresLogins::Sql(const std::vector<std::string>& commands, std::string* output,
                                 const std::string& database,
                                 const std::map<std::string, std::string>& env,
                                 const std::string& script) {
  return Psql(a_.bin_dir, a_.socket_dir, a_.port, database.empty() ? "postgres" : database,
              commands, output, env, script);
}

absl::Status PostgresLogins::SetPassword(const std::string& user, const Secret& password) {
  HUT_RETURN_IF_ERROR(CheckRoleName(user));
  const std::string role = absl::StrCat("\"", user, "\"");
  const std::string owner = absl::StrCat("\"", a_.owner, "\"");
  if (user != a_.owner) {
    // Another login of the application: a member of the owner that acts as
    // the owner, so what it creates (a migration's tables) is the owner's.
    std::string exists;
    HUT_RETURN_IF_ERROR(
        Sql({absl::StrCat("SELECT 1 FROM pg_roles WHERE rolname = '", user, "'")}, &exists));
    if (exists.empty()) {
      HUT_RETURN_IF_ERROR(Sql({absl::StrCat("CREATE ROLE ", role, " LOGIN IN ROLE ", owner)}));
    }
    HUT_RETURN_IF_ERROR(Sql({absl::StrCat("ALTER ROLE ", role, " SET role = ", owner)}));
  }
  return SetRolePassword(user, password);
}

absl::Status PostgresLogins::SetMonitorPassword(const std::string& user, const Secret& password) {
  HUT_RETURN_IF_ERROR(CheckRoleName(user));
  std::string exists;
  HUT_RETURN_IF_ERROR(
      Sql({absl::StrCat("SELECT 1 FROM pg_roles WHERE rolname = '", user, "'")}, &exists));
  if (exists.empty()) {
    HUT_RETURN_IF_ERROR(Sql({absl::StrCat("CREATE ROLE \"", user, "\" LOGIN IN ROLE pg_monitor")}));
  }
  return SetRolePassword(user, password);
}

absl::Status PostgresLogins::SetRolePassword(const std::string& user, const Secret& password) {
  // psql interpolates variables in a script, not in -c: the script holds no
  // secret, the password comes from psql's environment.
  const std::string script =
      absl::StrCat(a_.socket_dir, "/hut-set-password-", RandomSecretHex(4).Reveal(), ".sql");
  {
    std::ofstream out(script, std::ios::trunc);
    out << "SET password_encryption = 'scram-sha-256';\n"  // pragma: allowlist secret (a setting's name)
        << "\\getenv password HUT_ROLE_PASSWORD\n"
        << "ALTER ROLE \"" << user << "\" LOGIN PASSWORD :'password';\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", script));
  }
  HUT_RETURN_IF_ERROR(GiveToUser(script, "postgres", 0600));
  const absl::Status set = Sql({}, nullptr, "", {{"HUT_ROLE_PASSWORD", password.Reveal()}}, script);
  std::error_code ec;
  fs::remove(script, ec);
  return set;
}

absl::Status PostgresLogins::Disable(const std::string& user) {
  HUT_RETURN_IF_ERROR(CheckRoleName(user));
  HUT_RETURN_IF_ERROR(Sql({absl::StrCat("ALTER ROLE \"", user, "\" NOLOGIN PASSWORD NULL")}));
  return Sql({absl::StrCat("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE usename = '", user, "'")});
}

absl::StatusOr<int> PostgresLogins::Sessions(const std::string& user) {
  HUT_RETURN_IF_ERROR(CheckRoleName(user));
  std::string out;
  HUT_RETURN_IF_ERROR(Sql(
      {absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE usename = '", user, "'")}, &out));
  int n = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(out), &n)) {
    return absl::InternalError(absl::StrCat("psql answered \"", out, "\" for a count"));
  }
  return n;
}

absl::Status PostgresLogins::TryLogin(const std::string& user, const Secret& password) {
  HUT_RETURN_IF_ERROR(CheckRoleName(user));
  ProcessOptions opts;
  opts.argv = {a_.bin_dir + "/psql", "-w", "-Atq", "-v", "ON_ERROR_STOP=1",
               absl::StrCat("host=127.0.0.1 port=", a_.port, " dbname=", a_.database,
                            " user=", user),
               "-c", "SELECT 1"};
  opts.env["PGPASSWORD"] = password.Reveal();  // psql's environment, never its command line
  opts.env["PGCONNECT_TIMEOUT"] = "5";
  HUT_ASSIGN_OR_RETURN(CommandResult r, RunCommand(opts, std::chrono::seconds(30)));
  if (!r.status.success()) {
    // psql's message names the user, never the password.
    return absl::PermissionDeniedError(absl::StrCat("PostgreSQL refused ", user, ": ",
                                                    absl::StripAsciiWhitespace(r.output)));
  }
  return absl::OkStatus();
}

}  // namespace hut::local
