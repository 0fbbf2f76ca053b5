#include "src/store/rules.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

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

}  // namespace hut::store
