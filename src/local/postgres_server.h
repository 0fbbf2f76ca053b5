#ifndef HUT_LOCAL_POSTGRES_SERVER_H_
#define HUT_LOCAL_POSTGRES_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/local/postgres_logins.h"
#include "src/common/subprocess.h"

namespace hut::local {

struct PostgresOptions {
  // Where the cluster lives. Created with initdb when it does not hold one;
  // reused (data kept) when it does.
  std::string data_dir;
  uint16_t port = 5432;          // listens on 127.0.0.1 only
  std::string database = "foohut";
  // Owner of `database`, the application's role; it logs in over TCP with a
  // password (scram-sha-256). No one is trusted: the superuser "postgres"
  // has no password, so it can log in only through the Unix socket in the
  // data folder as the "postgres" OS user (peer), which is how hut runs psql.
  std::string user = "foohut";
  // The application's login as a libpq password file ("*:*:*:USER:PASSWORD",
  // mode 0600): created for `user` with a random password when missing, and
  // that login's password set from it at every start. USER may be another
  // login role (a credential rotation alternates between `user` and one
  // more; see SetLoginPassword). Default "<data_dir>.pgpass".
  std::string password_file;
  // The monitoring login (pg_monitor's rights, for the exporter) and its
  // password file, made like password_file's; default "<data_dir>.monitor.pgpass".
  std::string monitor_user = "hut_monitor";
  std::string monitor_password_file;
  std::string log_file;          // server log; default "<data_dir>.log"
  // Tests only: fsync and synchronous commit off. Faster, loses data on a crash.
  bool unsafe_no_fsync = false;
  std::chrono::milliseconds start_timeout{30'000};
};

// A real PostgreSQL 15 server from Debian, run in the foreground as a child
// process (as the "postgres" user when we are root: initdb refuses root).
// Stopped (fast shutdown) by Stop() or the destructor. Not thread-safe.
class PostgresServer {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(const PostgresOptions& options);
  ~PostgresServer();

  // libpq URI for `database` as `user`, without a password:
  // postgresql://foohut@127.0.0.1:PORT/foohut
  std::string base_url() const;
  // base_url() reading the password from `passfile`: "…/foohut?passfile=PATH".
  std::string UrlWithPassfile(const std::string& passfile) const;
  // The same with options().password_file (readable by root only).
  std::string url() const { return UrlWithPassfile(options_.password_file); }
  const std::string& password_file() const { return options_.password_file; }
  // libpq URI for `database` as the monitoring login (its password in
  // monitor_password_file()).
  std::string monitor_url() const;
  const std::string& monitor_password_file() const { return options_.monitor_password_file; }
  uint16_t port() const { return options_.port; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  // What the server logs once it runs (jsonlog, UTC); its start-up messages
  // go to options.log_file.
  std::string json_log_file() const { return options_.data_dir + "/log/postgresql.json"; }
  // Fast shutdown (SIGINT), then SIGKILL after 10 s. Idempotent.
  void Stop();
  // Why the server is not running ("killed by signal 9 (Killed)"), or
  // nullopt while it runs. Does not block.
  std::optional<std::string> Down();
  // The application's logins (what a credential rotation changes).
  PostgresLogins& logins() { return *logins_; }

  // Starts the server again on the same folder, port and password (after it
  // died, say): as Start, with a stale postmaster.pid handled by PostgreSQL.
  absl::Status Restart();

 private:
  explicit PostgresServer(PostgresOptions options) : options_(std::move(options)) {}
  PostgresOptions options_;
  std::unique_ptr<PostgresLogins> logins_;
  std::unique_ptr<Process> process_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_POSTGRES_SERVER_H_
