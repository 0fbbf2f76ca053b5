#ifndef HUT_COMMON_SPAWN_THREAD_H_
#define HUT_COMMON_SPAWN_THREAD_H_

// A long-lived thread that runs tasks one at a time. Children started with
// ProcessOptions::kill_with_parent get SIGKILL when the *thread* that forked
// them exits (PR_SET_PDEATHSIG), so an owner that must stop its children
// gracefully (and outlive the threads that ask it to start them) forks here.

#include <deque>
#include <functional>
#include <future>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hut {

class SpawnThread {
 public:
  SpawnThread() : thread_([this] { Loop(); }) {}
  // Runs the tasks already queued, then joins.
  ~SpawnThread() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  SpawnThread(const SpawnThread&) = delete;
  SpawnThread& operator=(const SpawnThread&) = delete;

  // Runs `fn` on the thread and returns its result; on the caller's thread
  // once the destructor has begun. Not from the thread itself.
  template <typename F>
  auto Run(F fn) -> decltype(fn()) {
    using T = decltype(fn());
    std::packaged_task<T()> task(std::move(fn));
    std::future<T> result = task.get_future();
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        task();
        return result.get();
      }
      queue_.emplace_back([&task] { task(); });
    }
    return result.get();
  }

 private:
  bool Woken() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }

  void Loop() {
    mu_.Lock();
    while (true) {
      mu_.Await(absl::Condition(this, &SpawnThread::Woken));
      if (queue_.empty()) break;  // stopping
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      mu_.Unlock();
      task();
      mu_.Lock();
    }
    mu_.Unlock();
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hut

#endif  // HUT_COMMON_SPAWN_THREAD_H_
