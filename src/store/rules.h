#ifndef HUT_STORE_RULES_H_
#define HUT_STORE_RULES_H_

// The decisions every Store implementation shares, as pure functions: the
// lease rule, the fencing check and how events and times are completed. Not
// part of the Store interface; used by its implementations and their tests.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/common/clock.h"
#include "src/store/store.h"

namespace hut::store {

// Times are stored as integer milliseconds since the Unix epoch (UTC).
int64_t ToMillis(TimePoint t);
TimePoint FromMillis(int64_t ms);
TimePoint TruncateToMillis(TimePoint t);

// The lease AcquireLease stores, given the stored one (nullopt: never taken),
// or the refusal (see Store::AcquireLease). expires_at is truncated to
// milliseconds.
absl::StatusOr<Lease> DecideAcquire(const std::optional<Lease>& stored, std::string_view name,
                                    std::string_view holder, Duration ttl, TimePoint now);

// A write fenced with (name, token) may go ahead only if the stored lease
// `name` still has `token`: OK, or FailedPrecondition "fenced: ...".
absl::Status CheckFence(const std::optional<Lease>& stored, std::string_view name, int64_t token);

// What a write with events completes in each event: rollout_id 0 becomes
// `rollout`'s id, an empty environment/service the rollout's, a zero time
// `now`; every time is truncated to milliseconds.
void CompleteEvent(const Rollout& rollout, TimePoint now, Event& event);

// What SaveAlert completes: zero times stamped with `now` (received_at, then
// updated_at from it), every time truncated to milliseconds.
void CompleteAlert(TimePoint now, Alert& alert);
// An event written with `alert`: its environment and service when empty, a
// zero time `now`, and data["alert_id"].
void CompleteAlertEvent(const Alert& alert, TimePoint now, Event& event);
// A notification queued with `alert` (nullptr: none): its alert_id and, when
// empty, environment; zero times stamped (created_at `now`,
// next_attempt_at created_at); times truncated.
void CompleteNotification(const Alert* alert, TimePoint now, Notification& notification);
// InvalidArgument unless environment, key and channel are set.
absl::Status CheckNotification(std::string_view store, const Notification& notification);

// Column text both stores keep: JSON, a revision's env (a JSON object of
// strings), a rollout's strategy and phase names. `store` ("sqlite",
// "postgresql") starts every message. Encoding fails with InvalidArgument
// (invalid UTF-8), decoding with DataLoss naming `what`.
absl::StatusOr<std::string> DumpJson(std::string_view store, const nlohmann::json& value,
                                     const std::string& what);
absl::StatusOr<nlohmann::json> ParseJson(std::string_view store, const std::string& text,
                                         const std::string& what);
absl::StatusOr<std::vector<std::string>> DumpEventData(std::string_view store,
                                                       const std::vector<Event>& events);
absl::StatusOr<std::vector<std::string>> DumpSampleData(
    std::string_view store, int64_t rollout_id, const std::vector<AnalysisSample>& samples);
absl::StatusOr<std::string> EnvToText(std::string_view store,
                                      const std::map<std::string, std::string>& env);
absl::StatusOr<std::map<std::string, std::string>> EnvFromText(std::string_view store,
                                                               const std::string& text,
                                                               const std::string& what);
// Sets rollout.strategy and rollout.phase from their stored names.
absl::Status SetStrategyAndPhase(const std::string& strategy, const std::string& phase,
                                 Rollout& rollout);

// A Fence() setting: the lease a Store's writes must still hold.
struct FenceSetting {
  std::string name;
  int64_t token = 0;
};

}  // namespace hut::store

#endif  // HUT_STORE_RULES_H_
