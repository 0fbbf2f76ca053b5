// ThreadSanitizer builds only (cmake -DHUT_TSAN=ON; scripts/check-threads.sh).
//
// Debian's abseil is not built with TSan, so TSan does not see absl::Mutex
// and absl::CondVar synchronize anything and reports every access to state
// they guard as a race. The link wraps (ld --wrap, testing/tsan_absl.cmake)
// each call hut makes to them, and the wrappers below say to TSan what the
// call does: a lock acquires the mutex's address, an unlock releases it, a
// wait releases it and acquires it again. Conditions are wrapped too, since
// absl evaluates them on the unlocking thread, or on the waiting one before
// the wait returns.
//
// The symbols are those of Debian 12's abseil (20220623, inline namespace
// absl::debian3); with another abseil this file does not compile.
#include <sanitizer/tsan_interface.h>

#include "absl/synchronization/mutex.h"

namespace {

using Mutex = absl::debian3::Mutex;
using CondVar = absl::debian3::CondVar;
using Condition = absl::debian3::Condition;
using Duration = absl::debian3::Duration;
using Time = absl::debian3::Time;

void Acquire(Mutex* mu) { __tsan_acquire(mu); }
void Release(Mutex* mu) { __tsan_release(mu); }

// `cond`, evaluated as a critical section of `mu`: the evaluating thread
// (the waiter, or one unlocking `mu`, which holds it) acquires `mu` before it
// reads and releases it after, so that the waiter, once woken, is ordered
// after those reads (of this object too, which lives on its stack).
struct Acquiring {
  Mutex* mu;
  const Condition* cond;
  bool Eval() const {
    Mutex* const m = mu;
    Acquire(m);
    const bool holds = cond->Eval();
    Release(m);
    return holds;
  }
  Condition condition() const { return Condition(this, &Acquiring::Eval); }
};

}  // namespace

// extern "C" declarations of the real functions (`__real_<symbol>`, which the
// linker points at abseil's) and the wrappers (`__wrap_<symbol>`, which it
// points hut's calls at). A member function takes `this` first.
#define HUT_TSAN_WRAP(ret, sym, ...)            \
  extern "C" ret __real_##sym(__VA_ARGS__);     \
  extern "C" ret __wrap_##sym(__VA_ARGS__)

HUT_TSAN_WRAP(void, _ZN4absl7debian35Mutex4LockEv, Mutex* mu) {
  __real__ZN4absl7debian35Mutex4LockEv(mu);
  Acquire(mu);
}
HUT_TSAN_WRAP(void, _ZN4absl7debian35Mutex10ReaderLockEv, Mutex* mu) {
  __real__ZN4absl7debian35Mutex10ReaderLockEv(mu);
  Acquire(mu);
}
HUT_TSAN_WRAP(bool, _ZN4absl7debian35Mutex7TryLockEv, Mutex* mu) {
  const bool locked = __real__ZN4absl7debian35Mutex7TryLockEv(mu);
  if (locked) Acquire(mu);
  return locked;
}
HUT_TSAN_WRAP(bool, _ZN4absl7debian35Mutex13ReaderTryLockEv, Mutex* mu) {
  const bool locked = __real__ZN4absl7debian35Mutex13ReaderTryLockEv(mu);
  if (locked) Acquire(mu);
  return locked;
}
HUT_TSAN_WRAP(void, _ZN4absl7debian35Mutex6UnlockEv, Mutex* mu) {
  Release(mu);
  __real__ZN4absl7debian35Mutex6UnlockEv(mu);
}
HUT_TSAN_WRAP(void, _ZN4absl7debian35Mutex12ReaderUnlockEv, Mutex* mu) {
  Release(mu);
  __real__ZN4absl7debian35Mutex12ReaderUnlockEv(mu);
}

HUT_TSAN_WRAP(void, _ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE, Mutex* mu,
              const Condition& cond) {
  const Acquiring a{mu, &cond};
  __real__ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(mu, a.condition());
  Acquire(mu);
}
HUT_TSAN_WRAP(bool, _ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE,
              Mutex* mu, const Condition& cond, Duration timeout) {
  const Acquiring a{mu, &cond};
  const bool met = __real__ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
      mu, a.condition(), timeout);
  Acquire(mu);
  return met;
}
HUT_TSAN_WRAP(bool, _ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE,
              Mutex* mu, const Condition& cond, Time deadline) {
  const Acquiring a{mu, &cond};
  const bool met = __real__ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(
      mu, a.condition(), deadline);
  Acquire(mu);
  return met;
}

HUT_TSAN_WRAP(void, _ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE, Mutex* mu,
              const Condition& cond) {
  const Acquiring a{mu, &cond};
  Release(mu);
  __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(mu, a.condition());
  Acquire(mu);
}
HUT_TSAN_WRAP(bool, _ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE,
              Mutex* mu, const Condition& cond, Duration timeout) {
  const Acquiring a{mu, &cond};
  Release(mu);
  const bool met = __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
      mu, a.condition(), timeout);
  Acquire(mu);
  return met;
}
HUT_TSAN_WRAP(bool, _ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE,
              Mutex* mu, const Condition& cond, Time deadline) {
  const Acquiring a{mu, &cond};
  Release(mu);
  const bool met = __real__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
      mu, a.condition(), deadline);
  Acquire(mu);
  return met;
}

HUT_TSAN_WRAP(void, _ZN4absl7debian37CondVar4WaitEPNS0_5MutexE, CondVar* cv, Mutex* mu) {
  Release(mu);
  __real__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(cv, mu);
  Acquire(mu);
}
HUT_TSAN_WRAP(bool, _ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE,
              CondVar* cv, Mutex* mu, Duration timeout) {
  Release(mu);
  const bool timed_out =
      __real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(cv, mu, timeout);
  Acquire(mu);
  return timed_out;
}
HUT_TSAN_WRAP(bool, _ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE,
              CondVar* cv, Mutex* mu, Time deadline) {
  Release(mu);
  const bool timed_out =
      __real__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(cv, mu, deadline);
  Acquire(mu);
  return timed_out;
}
