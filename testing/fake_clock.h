#ifndef HUT_TESTING_FAKE_CLOCK_H_
#define HUT_TESTING_FAKE_CLOCK_H_

#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"

namespace hut::testing {

// A Clock that moves only when told to. A thread in AwaitUntil (or
// SleepUntil) wakes when Advance or Set moves the clock to its deadline, or
// when its condition holds; never by real time passing. Safe for concurrent
// use. Advance and Set lock the mutex of each waiter whose deadline they
// reach: do not call them holding such a mutex.
class FakeClock final : public Clock {
 public:
  // Starts at 2026-01-01T00:00:00Z unless told otherwise.
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1767225600)))
      : now_(start) {}

  TimePoint Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(std::chrono::nanoseconds d) {
    std::vector<Waiter*> due;
    {
      absl::MutexLock lock(&mu_);
      now_ += std::chrono::duration_cast<TimePoint::duration>(d);
      due = DueLocked();
    }
    Wake(due);
  }
  void Set(TimePoint t) {
    std::vector<Waiter*> due;
    {
      absl::MutexLock lock(&mu_);
      now_ = t;
      due = DueLocked();
    }
    Wake(due);
  }

  bool AwaitUntil(absl::Mutex& mu, const absl::Condition& cond, TimePoint deadline) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) override {
    Waiter w{&mu, deadline};
    {
      absl::MutexLock lock(&mu_);
      if (now_ >= deadline) {
        w.due = true;
      } else {
        waiters_.insert(&w);
      }
    }
    if (w.due) return cond.Eval();
    struct Wait {
      const absl::Condition* cond;
      const bool* due;
    } wait{&cond, &w.due};
    mu.Await(absl::Condition(+[](Wait* x) { return *x->due || x->cond->Eval(); }, &wait));
    bool notifying;
    {
      absl::MutexLock lock(&mu_);
      waiters_.erase(&w);
      notifying = w.notifying > 0;
    }
    if (notifying) {
      // An Advance is about to lock `mu` for `w`: let it, before `w` goes.
      mu.Unlock();
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(+[](Waiter* x) { return x->notifying == 0; }, &w));
      }
      mu.Lock();
    }
    return cond.Eval();
  }

  // Blocks until `n` threads wait on this clock for a deadline still ahead:
  // the workers have done what the last Advance woke them for and wait
  // again. Tests use it instead of sleeping.
  void WaitForWaiters(int n) const {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      int ahead = 0;
      for (const Waiter* w : waiters_) ahead += w->deadline > now_ ? 1 : 0;
      return ahead >= n;
    };
    mu_.Await(absl::Condition(&enough));
  }
  void WaitForWaiter() const { WaitForWaiters(1); }

 private:
  struct Waiter {
    absl::Mutex* mu;     // the waiter's
    TimePoint deadline;
    bool due = false;    // under *mu once registered: Advance reached the deadline
    int notifying = 0;   // under the clock's mu_: Advances about to lock *mu
  };

  std::vector<Waiter*> DueLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Waiter*> due;
    for (Waiter* w : waiters_) {
      if (w->deadline <= now_) {
        ++w->notifying;
        due.push_back(w);
      }
    }
    return due;
  }
  // Locks each waiter's mutex to set its flag: its condition is evaluated
  // again when the mutex is released, so no wakeup is lost.
  void Wake(const std::vector<Waiter*>& due) {
    if (due.empty()) return;
    for (Waiter* w : due) {
      absl::MutexLock lock(w->mu);
      w->due = true;
    }
    absl::MutexLock lock(&mu_);
    for (Waiter* w : due) --w->notifying;
  }

  mutable absl::Mutex mu_;
  TimePoint now_ ABSL_GUARDED_BY(mu_);
  mutable std::set<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hut::testing

#endif  // HUT_TESTING_FAKE_CLOCK_H_
