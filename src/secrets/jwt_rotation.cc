#include "src/secrets/jwt_rotation.h"

#include <sodium.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "src/common/base64.h"
#include "src/common/status.h"
#include "src/common/units.h"

namespace hut::secrets {
namespace {

using nlohmann::json;

absl::StatusOr<json> Parse(const Secret& key_set) {
  json j = json::parse(key_set.Reveal(), nullptr, false);
  if (!j.is_object() || !j["active_kid"].is_string() || !j["keys"].is_object() ||
      !j["keys"].contains(j["active_kid"].get<std::string>())) {
    return absl::DataLossError(
        "the jwt secret is not a key set {\"active_kid\", \"keys\": {kid: base64}}");
  }
  return j;
}

Secret Serialize(json& j) {
  Secret out(j.dump());
  for (auto& [kid, key] : j["keys"].items()) WipeString(key.get_ref<std::string&>());
  return out;
}

// A new random 256-bit key, base64.
std::string NewKey() {
  unsigned char key[32];
  randombytes_buf(key, sizeof key);
  std::string b64 = Base64Encode(std::string_view(reinterpret_cast<const char*>(key), sizeof key));
  sodium_memzero(key, sizeof key);
  return b64;
}

// When a kid "hut-<unix seconds>[-n]" was made; nullopt for another form.
std::optional<TimePoint> KidTime(const std::string& kid) {
  if (!absl::StartsWith(kid, "hut-")) return std::nullopt;
  std::string digits = kid.substr(4, kid.find('-', 4) - 4);
  int64_t secs = 0;
  if (!absl::SimpleAtoi(digits, &secs)) return std::nullopt;
  return TimePoint(std::chrono::seconds(secs));
}

}  // namespace

absl::StatusOr<KeySetIds> KeySetIdsOf(const Secret& key_set) {
  HUT_ASSIGN_OR_RETURN(json j, Parse(key_set));
  KeySetIds ids{.active_kid = j["active_kid"], .kids = {}};
  for (const auto& [kid, key] : j["keys"].items()) ids.kids.push_back(kid);
  for (auto& [kid, key] : j["keys"].items()) WipeString(key.get_ref<std::string&>());
  return ids;
}

absl::Status JwtRotator::Event(const std::string& type, const std::string& message,
                               nlohmann::json data) {
  return o_.secrets->Record(type, message, std::move(data));
}

absl::StatusOr<std::string> JwtRotator::Rotate(const std::string& by) {
  absl::MutexLock lock(&mu_);
  return RotateLocked(by);
}

absl::StatusOr<std::string> JwtRotator::RotateLocked(const std::string& by) {
  SecretsService& s = *o_.secrets;
  HUT_ASSIGN_OR_RETURN(const std::string name, s.FullName(kJwtSecret));
  absl::StatusOr<SecretValue> pending = s.backend().Get(name, kPending, "");
  if (pending.ok()) return Resume(*pending, by);
  if (pending.status().code() != absl::StatusCode::kNotFound) return pending.status();

  // 1. create: the old keys and a new one, still signing with the old.
  HUT_ASSIGN_OR_RETURN(SecretValue current, s.Current(kJwtSecret));
  HUT_ASSIGN_OR_RETURN(json keys, Parse(current.value));
  const int64_t secs =
      std::chrono::duration_cast<std::chrono::seconds>(o_.clock->Now().time_since_epoch()).count();
  std::string kid = absl::StrCat("hut-", secs);
  for (int n = 2; keys["keys"].contains(kid); ++n) kid = absl::StrCat("hut-", secs, "-", n);
  const std::string old_kid = keys["active_kid"];
  keys["keys"][kid] = NewKey();
  const Secret next = Serialize(keys);
  const std::string version = NewVersionId();
  HUT_RETURN_IF_ERROR(s.backend().Put(name, version, next, {kPending}));
  HUT_RETURN_IF_ERROR(Event("secret.rotation-started",
                            absl::StrCat("rotation of jwt started by ", by, ": new key ", kid,
                                         " (pending version ", version, "), ", old_kid,
                                         " signs until every replica has it"),
                            {{"secret", kJwtSecret}, {"kid", kid}, {"version", version}, {"by", by}}));
  HUT_ASSIGN_OR_RETURN(SecretValue created, s.backend().Get(name, kPending, ""));
  return Resume(created, by);
}

absl::StatusOr<std::string> JwtRotator::Resume(const SecretValue& pending, const std::string& by) {
  SecretsService& s = *o_.secrets;
  HUT_ASSIGN_OR_RETURN(const std::string name, s.FullName(kJwtSecret));
  HUT_ASSIGN_OR_RETURN(SecretValue current, s.Current(kJwtSecret));
  HUT_ASSIGN_OR_RETURN(KeySetIds now, KeySetIdsOf(current.value));
  HUT_ASSIGN_OR_RETURN(json p, Parse(pending.value));
  // The pending set's new key: the one the current set has not, or (killed
  // after finishing) the one the current set already signs with.
  std::string kid;
  for (const auto& [k, key] : p["keys"].items()) {
    if (std::find(now.kids.begin(), now.kids.end(), k) == now.kids.end()) kid = k;
  }
  const std::string old_kid = p["active_kid"];
  if (kid.empty() && now.active_kid != old_kid && p["keys"].contains(now.active_kid)) {
    HUT_RETURN_IF_ERROR(s.backend().MoveStage(name, kPending, ""));  // 4 done, but for this
    HUT_RETURN_IF_ERROR(o_.deliver(current.value));
    return now.active_kid;
  }
  if (kid.empty()) {
    return absl::DataLossError("the pending jwt version adds no key to the current one");
  }
  // 2. set.
  HUT_RETURN_IF_ERROR(o_.deliver(pending.value));
  // 3. test: every replica has the new key.
  absl::StatusOr<bool> tested = WaitLoaded(kid, false);
  const bool loaded = tested.ok() && *tested;
  const absl::Status why = tested.status();
  if (!loaded) {
    HUT_RETURN_IF_ERROR(s.backend().MoveStage(name, kPending, ""));
    HUT_RETURN_IF_ERROR(o_.deliver(current.value));
    const std::string reason =
        why.ok() ? absl::StrCat("not every replica loaded key ", kid, " within ",
                                FormatDuration(o_.test_timeout))
                 : std::string(why.message());
    HUT_RETURN_IF_ERROR(Event("secret.rotation-failed",
                              absl::StrCat("rotation of jwt rolled back: ", reason, "; ",
                                           now.active_kid, " stays current"),
                              {{"secret", kJwtSecret}, {"kid", kid}, {"reason", reason}}));
    return absl::FailedPreconditionError(
        absl::StrCat("rotation of jwt rolled back: ", reason));
  }
  // 4. finish: sign with the new key, keep verifying the old one.
  p["active_kid"] = kid;
  const Secret signing = Serialize(p);
  const std::string version = NewVersionId();
  HUT_RETURN_IF_ERROR(s.backend().Put(name, version, signing, {kCurrent}));
  HUT_RETURN_IF_ERROR(s.backend().MoveStage(name, kPending, ""));
  HUT_RETURN_IF_ERROR(o_.deliver(signing));
  // A login from now on gets a token of the new key.
  (void)WaitLoaded(kid, true);
  HUT_RETURN_IF_ERROR(Event("secret.rotation-finished",
                            absl::StrCat("rotation of jwt finished (", by, "): ", kid,
                                         " signs; ", old_kid, " verifies until ",
                                         FormatTimestamp(o_.clock->Now() + o_.overlap)),
                            {{"secret", kJwtSecret}, {"kid", kid}, {"version", version},
                             {"retired", old_kid}, {"by", by}}));
  return kid;
}

absl::StatusOr<bool> JwtRotator::WaitLoaded(const std::string& kid, bool signing) {
  const TimePoint deadline = o_.clock->Now() + o_.test_timeout;
  while (true) {
    absl::StatusOr<bool> r = o_.loaded(kid, signing);
    if ((r.ok() && *r) || o_.clock->Now() >= deadline) return r;
    o_.clock->SleepUntil(std::min(deadline, o_.clock->Now() + o_.test_interval));
  }
}

absl::Status JwtRotator::Tick() {
  absl::MutexLock lock(&mu_);
  SecretsService& s = *o_.secrets;
  HUT_ASSIGN_OR_RETURN(const std::string name, s.FullName(kJwtSecret));
  absl::StatusOr<SecretValue> pending = s.backend().Get(name, kPending, "");
  if (pending.ok()) return Resume(*pending, "hut (resumed)").status();
  if (pending.status().code() != absl::StatusCode::kNotFound) return pending.status();
  HUT_ASSIGN_OR_RETURN(SecretValue current, s.Current(kJwtSecret));
  HUT_ASSIGN_OR_RETURN(KeySetIds ids, KeySetIdsOf(current.value));
  HUT_ASSIGN_OR_RETURN(SecretInfo info, s.Describe(kJwtSecret));
  TimePoint since{};
  for (const VersionInfo& v : info.versions) {
    if (v.id == current.version_id) since = v.created;
  }
  const TimePoint now = o_.clock->Now();
  if (ids.kids.size() > 1 && now >= since + o_.overlap) {
    HUT_ASSIGN_OR_RETURN(json keys, Parse(current.value));
    std::vector<std::string> retired;
    for (const std::string& kid : ids.kids) {
      if (kid != ids.active_kid) retired.push_back(kid);
    }
    for (const std::string& kid : retired) keys["keys"].erase(kid);
    const Secret alone = Serialize(keys);
    const std::string version = NewVersionId();
    HUT_RETURN_IF_ERROR(s.backend().Put(name, version, alone, {kCurrent}));
    HUT_RETURN_IF_ERROR(o_.deliver(alone));
    return Event("secret.key-retired",
                 absl::StrCat("jwt key ", absl::StrJoin(retired, ", "),
                              " retired: tokens it signed are no longer accepted"),
                 {{"secret", kJwtSecret}, {"retired", retired}, {"version", version}});
  }
  if (!o_.period) return absl::OkStatus();
  const TimePoint made = KidTime(ids.active_kid).value_or(since);
  if (now < made + *o_.period) return absl::OkStatus();
  return RotateLocked("hut (schedule)").status();
}

}  // namespace hut::secrets
