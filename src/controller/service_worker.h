#ifndef HUT_CONTROLLER_SERVICE_WORKER_H_
#define HUT_CONTROLLER_SERVICE_WORKER_H_

// One thread per service that owns its ServiceController (STYLE.md rule 12):
// requests from the API are queued to it and answered through futures; between
// requests it reconciles every `tick_interval` of its clock.

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/controller/service_controller.h"

namespace hut::controller {

class ServiceWorker {
 public:
  // Starts the thread. Ticks right away, then `tick_interval` of `clock`
  // after the end of the previous tick, and after every request. `clock`
  // must outlive the worker.
  // `on_tick`, when set, is told how long each tick took and whether it
  // succeeded (hut's metrics), on the worker thread.
  using TickObserver = std::function<void(std::chrono::nanoseconds took, bool ok)>;
  ServiceWorker(std::unique_ptr<ServiceController> controller, const Clock& clock,
                std::chrono::milliseconds tick_interval, Logger logger,
                TickObserver on_tick = nullptr);
  // Stops the thread after the request in progress; queued requests are
  // answered with Cancelled.
  ~ServiceWorker();

  ServiceWorker(const ServiceWorker&) = delete;
  ServiceWorker& operator=(const ServiceWorker&) = delete;

  // Runs `fn` on the worker thread and returns its result. Safe from any thread.
  template <typename T>
  T Run(std::function<T(ServiceController&)> fn, T if_cancelled) {
    auto task = std::make_shared<std::packaged_task<T(ServiceController*)>>(
        [fn = std::move(fn), if_cancelled](ServiceController* c) {
          return c == nullptr ? if_cancelled : fn(*c);
        });
    std::future<T> result = task->get_future();
    Post([task](ServiceController* c) { (*task)(c); });
    return result.get();
  }

 private:
  void Post(std::function<void(ServiceController*)> task);
  void Loop();
  absl::Status GuardedTick();
  bool Woken() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }

  std::unique_ptr<ServiceController> controller_;
  const Clock& clock_;
  const std::chrono::milliseconds tick_interval_;
  Logger logger_;
  TickObserver on_tick_;
  absl::Mutex mu_;
  std::deque<std::function<void(ServiceController*)>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hut::controller

#endif  // HUT_CONTROLLER_SERVICE_WORKER_H_
