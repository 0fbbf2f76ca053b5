#include "src/store/rules.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "src/common/status.h"

namespace hut::store {

int64_t ToMillis(TimePoint t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

TimePoint FromMillis(int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

TimePoint TruncateToMillis(TimePoint t) { return FromMillis(ToMillis(t)); }

namespace {

std::string FormatTime(TimePoint t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(t), absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<Lease> DecideAcquire(const std::optional<Lease>& stored, std::string_view name,
                                    std::string_view holder, Duration ttl, TimePoint now) {
  if (name.empty() || holder.empty()) {
    return absl::InvalidArgumentError("lease: a lease needs a name and a holder");
  }
  if (ttl <= Duration::zero()) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease ", std::string(name), ": ttl must be positive, got ", ttl.count(), " ms"));
  }
  Lease lease;
  lease.name = std::string(name);
  lease.holder = std::string(holder);
  lease.expires_at = TruncateToMillis(now + ttl);
  if (stored && stored->holder == holder) {
    lease.token = stored->token;  // a renewal
    return lease;
  }
  if (!stored || stored->holder.empty() || stored->expires_at <= now) {
    lease.token = (stored ? stored->token : 0) + 1;  // a new holder
    return lease;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("lease ", std::string(name), " is held by ", stored->holder, " until ",
                   FormatTime(stored->expires_at), " (token ", stored->token, ")"));
}

absl::Status CheckFence(const std::optional<Lease>& stored, std::string_view name,
                        int64_t token) {
  if (!stored) {
    return absl::FailedPreconditionError(absl::StrCat(
        "fenced: lease ", std::string(name), " does not exist (this store writes with token ", token,
        "); nothing was written"));
  }
  if (stored->token != token) {
    return absl::FailedPreconditionError(absl::StrCat(
        "fenced: ", stored->holder.empty() ? "no one" : stored->holder,
        " now holds the lease ", std::string(name), " (token ", stored->token,
        "; this store writes with token ", token, "); nothing was written"));
  }
  return absl::OkStatus();
}

void CompleteEvent(const Rollout& rollout, TimePoint now, Event& event) {
  if (event.rollout_id == 0) event.rollout_id = rollout.id;
  if (event.environment.empty()) event.environment = rollout.environment;
  if (event.service.empty()) event.service = rollout.service;
  if (event.at == TimePoint()) event.at = now;
  event.at = TruncateToMillis(event.at);
}

void CompleteAlert(TimePoint now, Alert& alert) {
  if (alert.received_at == TimePoint()) alert.received_at = now;
  if (alert.updated_at == TimePoint()) alert.updated_at = alert.received_at;
  alert.starts_at = TruncateToMillis(alert.starts_at);
  alert.received_at = TruncateToMillis(alert.received_at);
  alert.updated_at = TruncateToMillis(alert.updated_at);
  for (std::optional<TimePoint>* t : {&alert.deadline, &alert.acked_at, &alert.resolved_at}) {
    if (*t) **t = TruncateToMillis(**t);
  }
}

void CompleteAlertEvent(const Alert& alert, TimePoint now, Event& event) {
  if (event.environment.empty()) event.environment = alert.environment;
  if (event.service.empty()) event.service = alert.service;
  if (event.at == TimePoint()) event.at = now;
  event.at = TruncateToMillis(event.at);
  if (!event.data.is_object()) event.data = nlohmann::json::object();
  event.data["alert_id"] = alert.id;
}

void CompleteNotification(const Alert* alert, TimePoint now, Notification& n) {
  if (alert != nullptr) {
    n.alert_id = alert->id;
    if (n.environment.empty()) n.environment = alert->environment;
  }
  if (n.created_at == TimePoint()) n.created_at = now;
  if (n.next_attempt_at == TimePoint()) n.next_attempt_at = n.created_at;
  n.created_at = TruncateToMillis(n.created_at);
  n.next_attempt_at = TruncateToMillis(n.next_attempt_at);
  if (n.delivered_at) n.delivered_at = TruncateToMillis(*n.delivered_at);
}

absl::Status CheckNotification(std::string_view store, const Notification& n) {
  if (n.environment.empty() || n.key.empty() || n.channel.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(store), ": a notification needs an environment, a key and a channel"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DumpJson(std::string_view store, const nlohmann::json& value,
                                     const std::string& what) {
  try {
    return value.dump();  // nlohmann throws on invalid UTF-8
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(store), ": cannot encode ", what, ": ", e.what()));
  }
}

absl::StatusOr<nlohmann::json> ParseJson(std::string_view store, const std::string& text,
                                         const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    return absl::DataLossError(
        absl::StrCat(std::string(store), ": corrupt ", what, ": ", e.what()));
  }
}

absl::StatusOr<std::vector<std::string>> DumpEventData(std::string_view store,
                                                       const std::vector<Event>& events) {
  std::vector<std::string> texts;
  for (const Event& event : events) {
    HUT_ASSIGN_OR_RETURN(texts.emplace_back(),
                         DumpJson(store, event.data, absl::StrCat("data of event ", event.type)));
  }
  return texts;
}

absl::StatusOr<std::vector<std::string>> DumpSampleData(
    std::string_view store, int64_t rollout_id, const std::vector<AnalysisSample>& samples) {
  std::vector<std::string> texts;
  for (const AnalysisSample& sample : samples) {
    HUT_ASSIGN_OR_RETURN(
        texts.emplace_back(),
        DumpJson(store, sample.data, absl::StrCat("analysis sample of rollout ", rollout_id)));
  }
  return texts;
}

absl::StatusOr<std::string> EnvToText(std::string_view store,
                                      const std::map<std::string, std::string>& env) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [key, value] : env) object[key] = value;
  return DumpJson(store, object, "revision env");
}

absl::StatusOr<std::map<std::string, std::string>> EnvFromText(std::string_view store,
                                                               const std::string& text,
                                                               const std::string& what) {
  HUT_ASSIGN_OR_RETURN(nlohmann::json value, ParseJson(store, text, what));
  if (!value.is_object()) {
    return absl::DataLossError(
        absl::StrCat(std::string(store), ": corrupt ", what, ": not a JSON object"));
  }
  std::map<std::string, std::string> env;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) {
      return absl::DataLossError(absl::StrCat(std::string(store), ": corrupt ", what,
                                              ": value of ", key, " is not a string"));
    }
    env[key] = v.get<std::string>();
  }
  return env;
}

absl::Status SetStrategyAndPhase(const std::string& strategy, const std::string& phase,
                                 Rollout& rollout) {
  std::optional<spec::Strategy> known_strategy = ParseStrategy(strategy);
  std::optional<RolloutPhase> known_phase = ParsePhase(phase);
  if (!known_strategy || !known_phase) {
    return absl::DataLossError(absl::StrCat("rollout ", rollout.id, " has an unknown ",
                                            known_strategy ? "phase" : "strategy", " \"",
                                            known_strategy ? phase : strategy, "\""));
  }
  rollout.strategy = *known_strategy;
  rollout.phase = *known_phase;
  return absl::OkStatus();
}

}  // namespace hut::store
