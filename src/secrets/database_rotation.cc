#include "src/secrets/database_rotation.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/common/status.h"
#include "src/common/units.h"

namespace hut::secrets {
namespace {

using nlohmann::json;

constexpr char kCloneSuffix[] = "_clone";

TimePoint CreatedOf(const SecretInfo& info, const std::string& version) {
  for (const VersionInfo& v : info.versions) {
    if (v.id == version) return v.created;
  }
  return TimePoint{};
}

}  // namespace

absl::StatusOr<DatabaseCredentials> ParseDatabaseCredentials(const Secret& value) {
  json j = json::parse(value.Reveal(), nullptr, false);
  auto text = [&j](const char* field) {
    return j.is_object() && j.contains(field) && j[field].is_string() &&
           !j[field].get_ref<const std::string&>().empty();
  };
  if (!text("username") || !text("password")) {
    return absl::DataLossError(
        "the database secret is not {\"engine\", \"dbname\", \"username\", \"password\"}");
  }
  DatabaseCredentials c;
  c.engine = j.value("engine", "postgres");
  c.dbname = j.value("dbname", "");
  c.username = j["username"];
  c.password = Secret(j["password"]);
  WipeString(j["password"].get_ref<std::string&>());
  return c;
}

Secret SerializeDatabaseCredentials(const DatabaseCredentials& c) {
  json j = {{"engine", c.engine}, {"dbname", c.dbname}, {"username", c.username},
            {"password", c.password.Reveal()}};
  Secret out(j.dump());
  WipeString(j["password"].get_ref<std::string&>());
  return out;
}

Secret PasswordFileLine(const DatabaseCredentials& c) {
  return Secret(absl::StrCat("*:*:*:", c.username, ":", c.password.Reveal(), "\n"));
}

absl::StatusOr<DatabaseCredentials> ParsePasswordFileLine(const Secret& text) {
  constexpr std::string_view kAny = "*:*:*:";
  const std::string& line = text.Reveal();
  const size_t end = std::min(line.find_first_of("\r\n"), line.size());
  const size_t colon = line.find(':', kAny.size());
  if (!line.starts_with(kAny) || colon == std::string::npos || colon == kAny.size() ||
      colon + 1 >= end) {
    return absl::InvalidArgumentError("not a password file (expected \"*:*:*:USER:PASSWORD\")");
  }
  DatabaseCredentials c;
  c.username = line.substr(kAny.size(), colon - kAny.size());
  c.password = Secret(line.substr(colon + 1, end - colon - 1));
  return c;
}

std::string AlternateUser(const std::string& user) {
  const size_t n = sizeof(kCloneSuffix) - 1;
  if (absl::EndsWith(user, kCloneSuffix)) return user.substr(0, user.size() - n);
  return absl::StrCat(user, kCloneSuffix);
}

absl::StatusOr<std::string> DatabaseRotator::Rotate(const std::string& by) {
  absl::MutexLock lock(&mu_);
  return RotateLocked(by);
}

absl::StatusOr<std::optional<std::string>> DatabaseRotator::UnretiredPrevious(
    const DatabaseCredentials& current) {
  SecretsService& s = *o_.secrets;
  HUT_ASSIGN_OR_RETURN(const std::string name, s.FullName(kDatabaseSecret));
  absl::StatusOr<SecretValue> previous = s.backend().Get(name, kPrevious, "");
  if (previous.status().code() == absl::StatusCode::kNotFound) return std::nullopt;
  if (!previous.ok()) return previous.status();
  HUT_ASSIGN_OR_RETURN(DatabaseCredentials p, ParseDatabaseCredentials(previous->value));
  if (p.username == current.username) return std::nullopt;
  return p.username;
}

absl::Status DatabaseRotator::Retire(const std::string& user, const std::string& why) {
  SecretsService& s = *o_.secrets;
  HUT_ASSIGN_OR_RETURN(const std::string name, s.FullName(kDatabaseSecret));
  const absl::StatusOr<int> open = o_.users->Sessions(user);
  HUT_RETURN_IF_ERROR(o_.users->Disable(user));
  HUT_RETURN_IF_ERROR(s.backend().MoveStage(name, kPrevious, ""));
  const int ended = open.ok() ? *open : 0;
  return s.Record("secret.login-retired",
                  absl::StrCat("database login ", user, " retired (", why, "): it can no longer log in",
                               ended > 0 ? absl::StrCat("; ", ended, " open sessions ended") : ""),
                  {{"secret", kDatabaseSecret}, {"user", user}, {"sessions_ended", ended}});
}

absl::StatusOr<std::string> DatabaseRotator::RotateLocked(const std::string& by) {
  SecretsService& s = *o_.secrets;
  HUT_ASSIGN_OR_RETURN(const std::string name, s.FullName(kDatabaseSecret));
  absl::StatusOr<SecretValue> pending = s.backend().Get(name, kPending, "");
  if (pending.ok()) return Resume(*pending, by);
  if (pending.status().code() != absl::StatusCode::kNotFound) return pending.status();

  HUT_ASSIGN_OR_RETURN(SecretValue current, s.Current(kDatabaseSecret));
  HUT_ASSIGN_OR_RETURN(DatabaseCredentials now, ParseDatabaseCredentials(current.value));
  // The login this rotation gives a new password is the last one's old
  // login: it must have no replica left on it.
  HUT_ASSIGN_OR_RETURN(std::optional<std::string> previous, UnretiredPrevious(now));
  if (previous) {
    HUT_ASSIGN_OR_RETURN(int open, o_.users->Sessions(*previous));
    if (open > 0) {
      HUT_ASSIGN_OR_RETURN(SecretInfo info, s.Describe(kDatabaseSecret));
      return absl::FailedPreconditionError(absl::StrCat(
          "database login ", *previous, " (replaced by the last rotation) still has ", open,
          " open sessions; it retires at ",
          FormatTimestamp(CreatedOf(info, current.version_id) + o_.overlap),
          ", or rotate again once they are gone"));
    }
    HUT_RETURN_IF_ERROR(Retire(*previous, "no sessions left; a new rotation needs it"));
  }

  // 1. create: the other login with a new password.
  DatabaseCredentials next = now;
  next.username = AlternateUser(now.username);
  next.password = RandomSecretHex(24);
  const std::string version = NewVersionId();
  HUT_RETURN_IF_ERROR(s.backend().Put(name, version, SerializeDatabaseCredentials(next), {kPending}));
  HUT_RETURN_IF_ERROR(s.Record(
      "secret.rotation-started",
      absl::StrCat("rotation of database started by ", by, ": login ", next.username,
                   " gets a new password (pending version ", version, "); ", now.username,
                   " serves until every replica has moved"),
      {{"secret", kDatabaseSecret}, {"user", next.username}, {"version", version}, {"by", by}}));
  HUT_ASSIGN_OR_RETURN(SecretValue created, s.backend().Get(name, kPending, ""));
  return Resume(created, by);
}

absl::StatusOr<std::string> DatabaseRotator::RollBack(const DatabaseCredentials& pending,
                                                      const std::string& current_user,
                                                      const std::string& reason) {
  SecretsService& s = *o_.secrets;
  HUT_ASSIGN_OR_RETURN(const std::string name, s.FullName(kDatabaseSecret));
  HUT_RETURN_IF_ERROR(s.backend().MoveStage(name, kPending, ""));
  // The login was not in use (the last rotation's old one, retired): it
  // stays unable to log in, whatever the set step left behind.
  (void)o_.users->Disable(pending.username);
  HUT_RETURN_IF_ERROR(s.Record(
      "secret.rotation-failed",
      absl::StrCat("rotation of database rolled back: ", reason, "; ", current_user,
                   " stays current"),
      {{"secret", kDatabaseSecret}, {"user", pending.username}, {"reason", reason}}));
  return absl::FailedPreconditionError(absl::StrCat("rotation of database rolled back: ", reason));
}

absl::StatusOr<std::string> DatabaseRotator::Resume(const SecretValue& pending,
                                                    const std::string& by) {
  SecretsService& s = *o_.secrets;
  HUT_ASSIGN_OR_RETURN(const std::string name, s.FullName(kDatabaseSecret));
  HUT_ASSIGN_OR_RETURN(SecretValue current, s.Current(kDatabaseSecret));
  HUT_ASSIGN_OR_RETURN(DatabaseCredentials now, ParseDatabaseCredentials(current.value));
  HUT_ASSIGN_OR_RETURN(DatabaseCredentials next, ParseDatabaseCredentials(pending.value));
  if (pending.version_id == current.version_id) {  // killed inside step 4
    HUT_RETURN_IF_ERROR(s.backend().MoveStage(name, kPending, ""));
    HUT_RETURN_IF_ERROR(o_.deliver(current.value));
    return now.username;
  }
  // 2. set.
  if (absl::Status set = o_.users->SetPassword(next.username, next.password); !set.ok()) {
    return RollBack(next, now.username,
                    absl::StrCat("setting the password of ", next.username, " failed: ",
                                 set.message()));
  }
  // 3. test.
  if (absl::Status test = o_.users->TryLogin(next.username, next.password); !test.ok()) {
    return RollBack(next, now.username,
                    absl::StrCat("the new login does not work: ", test.message()));
  }
  // 4. finish: current (the old version becomes previous, still working).
  HUT_RETURN_IF_ERROR(s.backend().MoveStage(name, kCurrent, pending.version_id));
  HUT_RETURN_IF_ERROR(s.backend().MoveStage(name, kPending, ""));
  HUT_RETURN_IF_ERROR(o_.deliver(pending.value));
  // The replicas' pools move as their old connections finish.
  const TimePoint started = o_.clock->Now();
  const TimePoint deadline = started + o_.drain_timeout;
  absl::StatusOr<int> open = o_.users->Sessions(now.username);
  while (open.ok() && *open > 0 && o_.clock->Now() < deadline) {
    o_.clock->SleepUntil(std::min(deadline, o_.clock->Now() + o_.drain_interval));
    open = o_.users->Sessions(now.username);
  }
  const std::string moved =
      !open.ok()     ? absl::StrCat("sessions of ", now.username, " unknown: ", open.status().message())
      : *open == 0   ? absl::StrCat("every session moved off ", now.username, " in ",
                                    FormatDuration(std::chrono::duration_cast<Duration>(o_.clock->Now() - started)))
                     : absl::StrCat(*open, " sessions of ", now.username, " still open after ",
                                    FormatDuration(o_.drain_timeout));
  HUT_RETURN_IF_ERROR(s.Record(
      "secret.rotation-finished",
      absl::StrCat("rotation of database finished (", by, "): ", next.username, " current; ",
                   moved, "; ", now.username, " retires at ",
                   FormatTimestamp(o_.clock->Now() + o_.overlap)),
      {{"secret", kDatabaseSecret}, {"user", next.username}, {"version", pending.version_id},
       {"replaced", now.username}, {"old_sessions", open.ok() ? *open : -1}, {"by", by}}));
  return next.username;
}

absl::Status DatabaseRotator::Tick() {
  absl::MutexLock lock(&mu_);
  SecretsService& s = *o_.secrets;
  HUT_ASSIGN_OR_RETURN(const std::string name, s.FullName(kDatabaseSecret));
  absl::StatusOr<SecretValue> pending = s.backend().Get(name, kPending, "");
  if (pending.ok()) return Resume(*pending, "hut (resumed)").status();
  if (pending.status().code() != absl::StatusCode::kNotFound) return pending.status();
  HUT_ASSIGN_OR_RETURN(SecretValue current, s.Current(kDatabaseSecret));
  if (!delivered_) {  // a control plane killed before it handed the last version out
    HUT_RETURN_IF_ERROR(o_.deliver(current.value));
    delivered_ = true;
  }
  HUT_ASSIGN_OR_RETURN(DatabaseCredentials now, ParseDatabaseCredentials(current.value));
  HUT_ASSIGN_OR_RETURN(SecretInfo info, s.Describe(kDatabaseSecret));
  const TimePoint since = CreatedOf(info, current.version_id);
  const TimePoint t = o_.clock->Now();
  HUT_ASSIGN_OR_RETURN(std::optional<std::string> previous, UnretiredPrevious(now));
  if (previous && t >= since + o_.overlap) {
    HUT_RETURN_IF_ERROR(Retire(*previous, absl::StrCat("its overlap of ", FormatDuration(o_.overlap),
                                                       " is over")));
  }
  if (!o_.period || t < since + *o_.period) return absl::OkStatus();
  return RotateLocked("hut (schedule)").status();
}

}  // namespace hut::secrets
