#include "src/platform/lease_keeper.h"

#include "absl/strings/str_cat.h"

namespace hut::platform {

LeaseKeeper::LeaseKeeper(store::Store& store, const Clock& clock, Logger logger,
                         LeaseOptions options)
    : store_(store), clock_(clock), logger_(std::move(logger)), options_(std::move(options)) {}

LeaseKeeper::~LeaseKeeper() {
  StopRenewing();
  absl::MutexLock lock(&mu_);
  if (held_) (void)store_.ReleaseLease(options_.name, options_.holder, token_);
}

void LeaseKeeper::StopRenewing() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<bool> LeaseKeeper::TryAcquire(std::string* holder) {
  absl::StatusOr<store::Lease> lease =
      store_.AcquireLease(options_.name, options_.holder, options_.ttl, clock_.Now());
  if (absl::IsFailedPrecondition(lease.status())) {  // another server holds it
    if (holder != nullptr) *holder = std::string(lease.status().message());
    return false;
  }
  if (!lease.ok()) return lease.status();
  absl::MutexLock lock(&mu_);
  if (!held_ || token_ != lease->token) {
    store_.Fence(options_.name, lease->token);
    logger_.Info("holding the lease", {{"lease", options_.name}, {"token", lease->token}});
  }
  held_ = true;
  token_ = lease->token;
  return true;
}

void LeaseKeeper::Run(std::function<void()> on_acquired,
                      std::function<void(const std::string&)> on_lost) {
  thread_ = std::thread([this, on_acquired = std::move(on_acquired),
                         on_lost = std::move(on_lost)]() mutable {
    Loop(std::move(on_acquired), std::move(on_lost));
  });
}

bool LeaseKeeper::Sleep(Duration d) {
  absl::MutexLock lock(&mu_);
  return !clock_.AwaitUntil(mu_, absl::Condition(&stopping_), clock_.Now() + d);
}

void LeaseKeeper::Loop(std::function<void()> on_acquired,
                       std::function<void(const std::string&)> on_lost) {
  bool announced = false;
  std::string last_error;
  {
    absl::MutexLock lock(&mu_);
    announced = held_;
  }
  while (Sleep(announced ? options_.ttl / 3 : options_.retry)) {
    std::string holder;
    absl::StatusOr<bool> held = TryAcquire(&holder);
    if (!held.ok()) {  // the store is unreachable: try again; the fence keeps writes safe
      if (held.status().ToString() != last_error) {
        last_error = held.status().ToString();
        logger_.Warn("cannot renew the lease", {{"error", last_error}});
      }
      continue;
    }
    last_error.clear();
    if (*held && !announced) {
      announced = true;
      on_acquired();
    } else if (!*held && announced) {
      {
        absl::MutexLock lock(&mu_);
        held_ = false;
      }
      on_lost(holder);
      return;
    }
  }
}

}  // namespace hut::platform
