#include "src/controller/service_worker.h"

#include "absl/strings/str_cat.h"

namespace hut::controller {

ServiceWorker::ServiceWorker(std::unique_ptr<ServiceController> controller,
                             const Clock& clock, std::chrono::milliseconds tick_interval,
                             Logger logger, TickObserver on_tick)
    : controller_(std::move(controller)),
      clock_(clock),
      tick_interval_(tick_interval),
      logger_(std::move(logger)),
      on_tick_(std::move(on_tick)),
      thread_([this] { Loop(); }) {}

ServiceWorker::~ServiceWorker() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  // Whatever is still queued is answered as cancelled.
  std::deque<std::function<void(ServiceController*)>> queued;
  {
    absl::MutexLock lock(&mu_);
    queued.swap(queue_);
  }
  for (auto& task : queued) task(nullptr);
}

void ServiceWorker::Post(std::function<void(ServiceController*)> task) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(std::move(task));
      return;
    }
  }
  task(nullptr);
}

absl::Status ServiceWorker::GuardedTick() {
  // The controller returns errors as statuses; this is the last line, so
  // that a bug or a corrupt row it did not foresee costs a tick, never the
  // control plane.
  try {
    return controller_->Tick();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("reconcile threw: ", e.what()));
  } catch (...) {
    return absl::InternalError("reconcile threw an unknown exception");
  }
}

void ServiceWorker::Loop() {
  TimePoint next_tick = clock_.Now();
  std::string last_error;  // logged once until it changes or clears
  while (true) {
    std::function<void(ServiceController*)> task;
    {
      absl::MutexLock lock(&mu_);
      clock_.AwaitUntil(mu_, absl::Condition(this, &ServiceWorker::Woken), next_tick);
      if (stopping_) return;
      if (!queue_.empty()) {
        task = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (task) task(controller_.get());
    // A request may have started a rollout: reconcile at once.
    const auto start = std::chrono::steady_clock::now();
    absl::Status s = GuardedTick();
    if (on_tick_) on_tick_(std::chrono::steady_clock::now() - start, s.ok());
    if (!s.ok()) {
      if (s.ToString() != last_error) {
        logger_.Error("reconcile failed", {{"error", s.ToString()}});
        last_error = s.ToString();
      }
    } else if (!last_error.empty()) {
      logger_.Info("reconcile works again");
      last_error.clear();
    }
    next_tick = clock_.Now() + tick_interval_;
  }
}

}  // namespace hut::controller
