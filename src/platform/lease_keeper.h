#ifndef HUT_PLATFORM_LEASE_KEEPER_H_
#define HUT_PLATFORM_LEASE_KEEPER_H_

// Elects the active control plane of an environment among the servers
// sharing one store: the holder of the store's lease (store.h) drives the
// environment; the others stand by and take over when it lapses. Once held,
// the store is fenced with the lease's token, so a server that lost the
// lease (paused, partitioned) can no longer write.

#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/store/store.h"

namespace hut::platform {

struct LeaseOptions {
  std::string name;    // "controller/<environment>"
  std::string holder;  // this server: "<host>/<pid>/<address>"
  // A holder that stops renewing loses the lease after `ttl`: a standby
  // takes over within ttl + retry.
  Duration ttl{5000};
  Duration retry{1000};  // a standby tries this often; the holder renews every ttl / 3
};

class LeaseKeeper {
 public:
  // `store` and `clock` must outlive it.
  LeaseKeeper(store::Store& store, const Clock& clock, Logger logger, LeaseOptions options);
  // Stops the thread and releases the lease when held (a standby takes over at once).
  ~LeaseKeeper();

  // One try: true when this server holds the lease now (the store is then
  // fenced); false with `holder` telling who does.
  absl::StatusOr<bool> TryAcquire(std::string* holder);
  // On a thread: until the lease is held, retries, then calls `on_acquired`
  // once; then renews it, and calls `on_lost` once if another server took it.
  void Run(std::function<void()> on_acquired, std::function<void(const std::string&)> on_lost);
  // Ends Run's thread (waits for a takeover in progress); the lease stays
  // held until destruction.
  void StopRenewing();

 private:
  void Loop(std::function<void()> on_acquired, std::function<void(const std::string&)> on_lost);
  bool Sleep(Duration d);  // false when stopping

  store::Store& store_;
  const Clock& clock_;
  Logger logger_;
  const LeaseOptions options_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  int64_t token_ ABSL_GUARDED_BY(mu_) = 0;  // of the lease while held
  std::thread thread_;
};

}  // namespace hut::platform

#endif  // HUT_PLATFORM_LEASE_KEEPER_H_
