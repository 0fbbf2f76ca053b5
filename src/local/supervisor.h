#ifndef HUT_LOCAL_SUPERVISOR_H_
#define HUT_LOCAL_SUPERVISOR_H_

// Watches the processes a local environment stands on (HAProxy, PostgreSQL,
// Redis) as the local runtime watches replicas: one that dies is restarted
// with backoff, and every death and restart is reported (hut records them
// as events).

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/common/log.h"

namespace hut::local {

// One supervised process, through two callbacks the supervisor calls from
// its own thread, never at once.
struct Supervised {
  std::string name;  // "load-balancer", "postgres", …: unique
  // Why it is not running ("killed by signal 9 (Killed)"), or nullopt.
  std::function<std::optional<std::string>()> down;
  // Starts it again; blocks until it serves, or fails.
  std::function<absl::Status()> restart;
};

struct SupervisorOptions {
  std::chrono::milliseconds check_interval{50};
  // The first restart comes at once; after a failed one, this, doubled
  // after each further failure up to max_backoff.
  std::chrono::milliseconds backoff{250};
  std::chrono::milliseconds max_backoff{10'000};
};

struct SupervisorEvent {
  enum class Kind { kDown, kRestarted, kRestartFailed };
  Kind kind;
  std::string name;
  std::string detail;  // the exit, or the restart's error
  int restarts = 0;    // successful restarts so far
  std::string Message() const;  // "postgres died (killed by signal 9 (Killed)); restarting"
  std::string Type() const;     // "dependency.down", "dependency.restarted", …
};

// What the supervisor last saw of one process.
struct SupervisedState {
  bool up = true;
  TimePoint since;        // when it last went up or down
  int restarts = 0;       // successful restarts
  std::string last_down;  // why it was last down; "" if never
};

// Thread-safe. The callbacks and the clock must outlive it; Stop() (or the
// destructor) before the supervised processes are stopped on purpose.
class Supervisor {
 public:
  Supervisor(std::vector<Supervised> processes, const Clock& clock, Logger logger,
             std::function<void(const SupervisorEvent&)> on_event,
             SupervisorOptions options = {});
  ~Supervisor();

  // One more process to watch; before Start().
  void Add(Supervised process);
  // Checks every options.check_interval on a thread of its own until Stop().
  void Start();
  void Stop();
  // One round: notes deaths, restarts what is due. For tests; Start() runs it.
  void CheckOnce();

  std::optional<SupervisedState> State(const std::string& name) const;

 private:
  struct Entry {
    Supervised process;
    SupervisedState state;
    TimePoint next_attempt;
    std::chrono::milliseconds backoff{0};
  };

  const SupervisorOptions options_;
  const Clock& clock_;
  Logger logger_;
  std::function<void(const SupervisorEvent&)> on_event_;
  mutable absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);  // the callbacks run without mu_
  absl::Mutex check_mu_;                              // one CheckOnce at a time
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_SUPERVISOR_H_
