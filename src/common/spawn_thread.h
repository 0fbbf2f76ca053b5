#ifndef HUT_COMMON_SPAWN_THREAD_H_
#define HUT_COMMON_SPAWN_THREAD_H_

// A long-lived thread that runs tasks one at a time. Children started with
// ProcessOptions::kill_with_parent get SIGKILL when the *thread* that forked
// them exits (PR_SET_PDEATHSIG), so an owner that must stop its children
// gracefully (and outlive the threads that ask it to start them) forks here.

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace hut {

class SpawnThread {
 public:
  SpawnThread() : thread_([this] { Loop(); }) {}
  // Runs the tasks already queued, then joins.
  ~SpawnThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
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
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        task();
        return result.get();
      }
      queue_.emplace_back([&task] { task(); });
    }
    cv_.notify_all();
    return result.get();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_
  std::thread thread_;
};

}  // namespace hut

#endif  // HUT_COMMON_SPAWN_THREAD_H_
