#include "src/local/supervisor.h"

#include <algorithm>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace hut::local {

std::string SupervisorEvent::Message() const {
  switch (kind) {
    case Kind::kDown:
      return absl::StrCat(name, " died (", detail, "); restarting it");
    case Kind::kRestarted:
      return absl::StrCat(name, " restarted (", restarts, restarts == 1 ? " restart" : " restarts",
                          " so far)");
    case Kind::kRestartFailed:
      return absl::StrCat(name, " could not be restarted: ", detail, "; trying again");
  }
  return name;
}

std::string SupervisorEvent::Type() const {
  switch (kind) {
    case Kind::kDown:
      return "dependency.down";
    case Kind::kRestarted:
      return "dependency.restarted";
    case Kind::kRestartFailed:
      return "dependency.restart-failed";
  }
  return "dependency";
}

Supervisor::Supervisor(std::vector<Supervised> processes, const Clock& clock, Logger logger,
                       std::function<void(const SupervisorEvent&)> on_event,
                       SupervisorOptions options)
    : options_(options),
      clock_(clock),
      logger_(std::move(logger)),
      on_event_(std::move(on_event)) {
  for (Supervised& p : processes) Add(std::move(p));
}

Supervisor::~Supervisor() { Stop(); }

void Supervisor::Add(Supervised process) {
  absl::MutexLock lock(&mu_);
  Entry entry;
  entry.process = std::move(process);
  entry.state.since = entry.next_attempt = clock_.Now();
  entry.backoff = options_.backoff;
  entries_.push_back(std::move(entry));
}

void Supervisor::Start() {
  thread_ = std::thread([this] {
    mu_.Lock();
    while (!stopping_) {
      mu_.Unlock();
      CheckOnce();
      mu_.Lock();
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(options_.check_interval));
    }
    mu_.Unlock();
  });
}

void Supervisor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Supervisor::CheckOnce() {
  absl::MutexLock one(&check_mu_);
  for (size_t i = 0;; ++i) {
    Supervised process;
    bool was_up;
    TimePoint next_attempt;
    {
      absl::MutexLock lock(&mu_);
      if (i >= entries_.size() || stopping_) return;
      process = entries_[i].process;
      was_up = entries_[i].state.up;
      next_attempt = entries_[i].next_attempt;
    }
    std::vector<SupervisorEvent> events;
    const std::optional<std::string> down = process.down();
    if (!down) {
      if (!was_up) {  // came back by itself: take it as a restart
        absl::MutexLock lock(&mu_);
        Entry& e = entries_[i];
        e.state.up = true;
        e.state.since = clock_.Now();
        e.backoff = options_.backoff;
      }
      continue;
    }
    const TimePoint now = clock_.Now();
    if (was_up) {
      absl::MutexLock lock(&mu_);
      Entry& e = entries_[i];
      e.state.up = false;
      e.state.since = now;
      e.state.last_down = *down;
      e.next_attempt = now;  // the first restart at once
      next_attempt = now;
      events.push_back({SupervisorEvent::Kind::kDown, process.name, *down, e.state.restarts});
    }
    if (now >= next_attempt) {
      const absl::Status restarted = process.restart();
      absl::MutexLock lock(&mu_);
      Entry& e = entries_[i];
      if (restarted.ok()) {
        e.state.up = true;
        e.state.since = clock_.Now();
        ++e.state.restarts;
        e.backoff = options_.backoff;
        events.push_back({SupervisorEvent::Kind::kRestarted, process.name, "", e.state.restarts});
      } else {
        e.next_attempt = clock_.Now() + e.backoff;
        e.backoff = std::min(e.backoff * 2, options_.max_backoff);
        events.push_back({SupervisorEvent::Kind::kRestartFailed, process.name,
                          std::string(restarted.message()), e.state.restarts});
      }
    }
    for (const SupervisorEvent& event : events) {
      if (event.kind == SupervisorEvent::Kind::kRestarted) {
        logger_.Info(event.Message(), {{"event", event.Type()}, {"name", event.name}});
      } else {
        logger_.Warn(event.Message(), {{"event", event.Type()}, {"name", event.name}});
      }
      if (on_event_) on_event_(event);
    }
  }
}

std::optional<SupervisedState> Supervisor::State(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  for (const Entry& e : entries_) {
    if (e.process.name == name) return e.state;
  }
  return std::nullopt;
}

}  // namespace hut::local
