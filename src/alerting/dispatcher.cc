#include "src/alerting/dispatcher.h"

#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hut::alerting {

Dispatcher::Dispatcher(store::Store& store, const Clock& clock, Logger logger,
                       std::map<std::string, Notifier*> notifiers, DispatcherOptions options)
    : store_(store),
      clock_(clock),
      logger_(std::move(logger)),
      notifiers_(std::move(notifiers)),
      options_(std::move(options)) {}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

Duration Dispatcher::Backoff(int attempts) const {
  Duration d = options_.initial_backoff;
  for (int i = 1; i < attempts && d < options_.max_backoff; ++i) d *= 2;
  return std::min(d, options_.max_backoff);
}

TimePoint Dispatcher::RunOnce(TimePoint now) {
  absl::StatusOr<std::vector<store::Notification>> pending =
      store_.PendingNotifications(options_.environment, options_.batch);
  if (!pending.ok()) {
    logger_.Warn("cannot read the outbox", {{"error", pending.status().ToString()}});
    return now + options_.initial_backoff;
  }
  TimePoint next = TimePoint::max();
  std::set<std::string> waiting;  // lanes whose oldest notification is not due
  for (store::Notification& n : *pending) {
    const std::string lane = absl::StrCat(n.channel, "/", n.recipient);
    if (waiting.contains(lane)) continue;
    if (n.next_attempt_at > now) {
      waiting.insert(lane);
      next = std::min(next, n.next_attempt_at);
      continue;
    }
    auto notifier = notifiers_.find(n.channel);
    const Delivery d = notifier == notifiers_.end()
                           ? Delivery{Delivery::Outcome::kRefused,
                                      absl::StrCat("no channel ", n.channel, " is configured"),
                                      std::nullopt}
                           : notifier->second->Send(n);
    ++n.attempts;
    std::vector<store::Event> events;
    switch (d.outcome) {
      case Delivery::Outcome::kDelivered:
        n.delivered_at = clock_.Now();
        n.last_error.clear();
        break;
      case Delivery::Outcome::kRetry:
        n.last_error = d.detail;
        n.next_attempt_at = now + d.retry_after.value_or(Backoff(n.attempts));
        waiting.insert(lane);
        next = std::min(next, n.next_attempt_at);
        break;
      case Delivery::Outcome::kRefused:
        n.failed = true;
        n.last_error = d.detail;
        break;
    }
    if (absl::Status s = store_.UpdateNotification(n); !s.ok()) {
      logger_.Warn("cannot record a notification's delivery: it is sent again",
                   {{"notification", n.key}, {"error", s.ToString()}});
      return now + options_.initial_backoff;
    }
    switch (d.outcome) {
      case Delivery::Outcome::kDelivered:
        delivered_.fetch_add(1, std::memory_order_relaxed);
        logger_.Info("notification delivered", {{"channel", n.channel},
                                                {"notification", n.key},
                                                {"attempts", n.attempts}});
        break;
      case Delivery::Outcome::kRetry:
        retried_.fetch_add(1, std::memory_order_relaxed);
        logger_.Warn("notification not delivered: retried",
                     {{"channel", n.channel}, {"notification", n.key}, {"attempts", n.attempts},
                      {"retry_at", FormatTimestamp(n.next_attempt_at)}, {"error", d.detail}});
        break;
      case Delivery::Outcome::kRefused: {
        refused_.fetch_add(1, std::memory_order_relaxed);
        logger_.Error("notification refused by its receiver",
                      {{"channel", n.channel}, {"notification", n.key}, {"error", d.detail}});
        store::Event e;
        e.environment = n.environment;
        e.type = "alert.notification-refused";
        e.message = absl::StrCat(n.channel, " refused notification ", n.key, ": ", d.detail);
        e.data = {{"notification", n.key}, {"channel", n.channel}, {"alert_id", n.alert_id},
                  {"error", d.detail}};
        if (absl::Status s = store_.AppendEvent(std::move(e)).status(); !s.ok()) {
          logger_.Warn("cannot record a refused notification", {{"error", s.ToString()}});
        }
        break;
      }
    }
  }
  if (static_cast<int>(pending->size()) == options_.batch) next = now;  // more behind them
  return next;
}

void Dispatcher::Start(std::function<TimePoint(TimePoint)> tick) {
  tick_ = std::move(tick);
  thread_ = std::thread([this] { Loop(); });
}

void Dispatcher::Kick() {
  absl::MutexLock lock(&mu_);
  kicked_ = true;
}

void Dispatcher::Loop() {
  while (true) {
    const TimePoint now = clock_.Now();
    TimePoint next = now + options_.idle_poll;
    if (tick_) next = std::min(next, tick_(now));
    next = std::min(next, RunOnce(now));
    absl::MutexLock lock(&mu_);
    const auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return kicked_ || stopping_;
    };
    clock_.AwaitUntil(mu_, absl::Condition(&woken), next);
    if (stopping_) return;
    kicked_ = false;
  }
}

DispatchCounts Dispatcher::counts() const {
  return {delivered_.load(), retried_.load(), refused_.load()};
}

}  // namespace hut::alerting
