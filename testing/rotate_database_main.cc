// hut-test-rotate-database: a control plane's database rotation in a process
// of its own, for the kill-point tests (src/local/database_rotation_kill_test).
// It opens the secrets of environment "staging" (the local backend and an
// SQLite event store in --state), the logins of a running PostgreSQL, and
// either starts a rotation (--rotate) or does what a restarted control plane
// does (a tick: hand out the current version, resume or retire). With
// --kill-after STEP it SIGKILLs itself right after that step's result is
// recorded: create (the pending version stored), set (the password set in
// PostgreSQL), test (the new login tried), finish (the version made current,
// before it is handed out). Prints the current login at the end.
#include <signal.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "src/common/clock.h"
#include "src/common/secret.h"
#include "src/local/postgres_logins.h"
#include "src/secrets/database_rotation.h"
#include "src/secrets/local_backend.h"
#include "src/secrets/service.h"
#include "src/store/sqlite_store.h"

namespace hut {
namespace {

void DieIf(bool at_step) {
  if (at_step) raise(SIGKILL);
}

// The backend, killing the process after the create and finish steps.
class KillingBackend final : public secrets::SecretBackend {
 public:
  KillingBackend(secrets::SecretBackend& real, const std::string& kill_after)
      : real_(real), kill_after_(kill_after) {}
  std::string kind() const override { return real_.kind(); }
  absl::Status Put(const std::string& name, const std::string& version, const Secret& value,
                   const std::vector<std::string>& stages) override {
    absl::Status s = real_.Put(name, version, value, stages);
    DieIf(s.ok() && kill_after_ == "create" && stages == std::vector<std::string>{secrets::kPending});
    return s;
  }
  absl::StatusOr<secrets::SecretValue> Get(const std::string& name, const std::string& stage,
                                           const std::string& version) override {
    return real_.Get(name, stage, version);
  }
  absl::Status MoveStage(const std::string& name, const std::string& stage,
                         const std::string& to) override {
    absl::Status s = real_.MoveStage(name, stage, to);
    DieIf(s.ok() && kill_after_ == "finish" && stage == secrets::kPending && to.empty());
    return s;
  }
  absl::StatusOr<secrets::SecretInfo> Describe(const std::string& name) override {
    return real_.Describe(name);
  }
  absl::StatusOr<std::vector<std::string>> List(const std::string& prefix) override {
    return real_.List(prefix);
  }

 private:
  secrets::SecretBackend& real_;
  const std::string kill_after_;
};

// The logins, killing the process after the set and test steps.
class KillingUsers final : public secrets::DatabaseUsers {
 public:
  KillingUsers(secrets::DatabaseUsers& real, const std::string& kill_after)
      : real_(real), kill_after_(kill_after) {}
  absl::Status SetPassword(const std::string& u, const Secret& p) override {
    absl::Status s = real_.SetPassword(u, p);
    DieIf(kill_after_ == "set");
    return s;
  }
  absl::Status TryLogin(const std::string& u, const Secret& p) override {
    absl::Status s = real_.TryLogin(u, p);
    DieIf(kill_after_ == "test");
    return s;
  }
  absl::Status Disable(const std::string& u) override { return real_.Disable(u); }
  absl::StatusOr<int> Sessions(const std::string& u) override { return real_.Sessions(u); }

 private:
  secrets::DatabaseUsers& real_;
  const std::string kill_after_;
};

int Main(int argc, char** argv) {
  CLI::App app{"hut-test-rotate-database: one database rotation, killable at each step"};
  std::string state, credentials_file, kill_after = "none";
  local::PostgresAddress pg;
  bool rotate = false;
  app.add_option("--state", state, "Folder of store.json, master.key and events.db")->required();
  app.add_option("--credentials-file", credentials_file, "The file the replicas follow")->required();
  app.add_option("--pg-bin", pg.bin_dir, "PostgreSQL's bin folder")->required();
  app.add_option("--socket-dir", pg.socket_dir, "The server's data folder")->required();
  app.add_option("--port", pg.port, "The server's port")->required();
  app.add_flag("--rotate", rotate, "Start a rotation (else: tick once)");
  app.add_option("--kill-after", kill_after, "create|set|test|finish|none")
      ->check(CLI::IsMember({"create", "set", "test", "finish", "none"}));
  CLI11_PARSE(app, argc, argv);
  pg.database = "foohut";
  pg.owner = "foohut";

  RealClock clock;
  auto backend = secrets::LocalSecretBackend::Open(
      {.file = state + "/store.json", .key_file = state + "/master.key", .key = Secret()}, clock);
  if (!backend.ok()) {
    std::cerr << backend.status() << "\n";
    return 1;
  }
  auto store = store::SqliteStore::Open(state + "/events.db", clock);
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }
  KillingBackend killing_backend(**backend, kill_after);
  secrets::SecretsService service({.project = "foohut", .environment = "staging",
                                   .backend = &killing_backend, .store = store->get(),
                                   .clock = &clock});
  local::PostgresLogins logins(pg);
  KillingUsers users(logins, kill_after);
  secrets::DatabaseRotator rotator({.secrets = &service,
                                    .clock = &clock,
                                    .users = &users,
                                    .period = std::nullopt,
                                    .overlap = std::chrono::hours(1),
                                    .deliver = [&](const Secret& credentials) {
                                      return WritePrivateFile(credentials_file, credentials.Reveal());
                                    },
                                    .drain_timeout = std::chrono::seconds(10),
                                    .drain_interval = std::chrono::milliseconds(100)});
  absl::Status done = rotate ? rotator.Rotate("test").status() : rotator.Tick();
  auto current = service.Current(secrets::kDatabaseSecret);
  auto c = current.ok() ? secrets::ParseDatabaseCredentials(current->value)
                        : absl::StatusOr<secrets::DatabaseCredentials>(current.status());
  std::cout << (c.ok() ? c->username : std::string("?")) << "\n";
  if (!done.ok()) {
    std::cerr << done << "\n";
    return 2;
  }
  return 0;
}

}  // namespace
}  // namespace hut

int main(int argc, char** argv) { return hut::Main(argc, argv); }
