#ifndef HUT_SECRETS_DATABASE_ROTATION_H_
#define HUT_SECRETS_DATABASE_ROTATION_H_

// Rotating the environment's database credentials without dropping a
// connection (ADR-009: every 30 days), with alternating users as AWS's
// "alternating users" rotation does: the application has two logins
// ("foohut" and "foohut_clone"); a rotation gives the one not in use a new
// password and then makes it current, so the login the replicas hold keeps
// working until they have moved. Secrets Manager's four steps, each one's
// result kept in the backend so a control plane killed at any point resumes:
//   1. create: a pending version naming the other login and a new password;
//   2. set: that login gets the password in the database;
//   3. test: a login with it succeeds; if not, the rotation is rolled back
//      (pending dropped, the current login untouched, secret.rotation-failed);
//   4. finish: the pending version becomes current (the old one previous)
//      and is handed to every replica, whose pools drain the old login's
//      connections.
// After the overlap the previous login is retired: it can no longer log in
// and its last sessions end. Events: secret.rotation-started, -finished,
// -failed, secret.login-retired (never a password).

#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/secrets/rotator.h"
#include "src/secrets/service.h"

namespace hut::secrets {

// The database's side: its users, as its superuser sees them.
class DatabaseUsers {
 public:
  virtual ~DatabaseUsers() = default;
  // `user` may log in with `password` from now on (created when missing,
  // with the application's rights).
  virtual absl::Status SetPassword(const std::string& user, const Secret& password) = 0;
  // Whether `user` with `password` can log in now, as the application would.
  virtual absl::Status TryLogin(const std::string& user, const Secret& password) = 0;
  // `user` can no longer log in; its sessions end.
  virtual absl::Status Disable(const std::string& user) = 0;
  // Sessions `user` has open now.
  virtual absl::StatusOr<int> Sessions(const std::string& user) = 0;
};

// The database secret's value, in Secrets Manager's shape for database
// credentials: {"engine", "dbname", "username", "password"}.
struct DatabaseCredentials {
  std::string engine = "postgres";
  std::string dbname;
  std::string username;
  Secret password;
};
absl::StatusOr<DatabaseCredentials> ParseDatabaseCredentials(const Secret& value);
Secret SerializeDatabaseCredentials(const DatabaseCredentials& credentials);

// libpq's password file holding one login, "*:*:*:USER:PASSWORD\n": how the
// local PostgreSQL's login is kept beside it (engine and dbname not kept).
Secret PasswordFileLine(const DatabaseCredentials& credentials);
// The USER and PASSWORD of such a file's first line; InvalidArgument
// (never quoting the file) for anything else.
absl::StatusOr<DatabaseCredentials> ParsePasswordFileLine(const Secret& text);

// The other login of the pair: "foohut" <-> "foohut_clone".
std::string AlternateUser(const std::string& user);

struct DatabaseRotationOptions {
  SecretsService* secrets = nullptr;
  const Clock* clock = nullptr;
  DatabaseUsers* users = nullptr;
  // policies.secrets.database.rotation; nullopt: on demand only.
  std::optional<Duration> period;
  // How long the replaced login keeps working (policies.secrets.database.overlap).
  Duration overlap = std::chrono::minutes(61);
  // Hands the credentials to the runtime (the file every replica follows).
  std::function<absl::Status(const Secret& credentials)> deliver;
  // After finishing, how long to wait for the old login's sessions to go
  // (replicas moved): reported in the finished event, never a failure.
  Duration drain_timeout = std::chrono::seconds(30);
  Duration drain_interval = std::chrono::milliseconds(250);
};

class DatabaseRotator final : public SecretRotator {
 public:
  explicit DatabaseRotator(DatabaseRotationOptions options) : o_(std::move(options)) {}

  // A rotation now (`hut secrets rotate database`), or the end of one under
  // way: the login now current. FailedPrecondition when it was rolled back,
  // or while the last rotation's old login still serves sessions.
  absl::StatusOr<std::string> Rotate(const std::string& by) override;
  // What the schedule wants now: the current credentials handed out once
  // after a start, a rotation under way resumed, the previous login retired
  // after its overlap, a rotation started when due (a missed one runs once).
  absl::Status Tick() override;

 private:
  absl::StatusOr<std::string> RotateLocked(const std::string& by) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> Resume(const SecretValue& pending, const std::string& by)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> RollBack(const DatabaseCredentials& pending,
                                       const std::string& current_user, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The previous version's login when it is another than the current one's
  // and not yet retired; nullopt otherwise.
  absl::StatusOr<std::optional<std::string>> UnretiredPrevious(const DatabaseCredentials& current)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Retire(const std::string& user, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const DatabaseRotationOptions o_;
  absl::Mutex mu_;  // one rotation at a time (the API's and the schedule's)
  bool delivered_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hut::secrets

#endif  // HUT_SECRETS_DATABASE_ROTATION_H_
