#include "src/logs/log_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hut::logs {
namespace {

constexpr size_t kMaxBatch = 16'384;
constexpr int64_t kMsPerDay = 86'400'000;

}  // namespace

class LogService::QueueSink final : public LogSink {
 public:
  QueueSink(LogService& service, std::string default_service)
      : service_(service), default_service_(std::move(default_service)) {}
  void Write(std::string_view line) override { service_.Enqueue(&default_service_, line); }
  const std::string& default_service() const { return default_service_; }

 private:
  LogService& service_;
  const std::string default_service_;
};

absl::StatusOr<std::unique_ptr<LogService>> LogService::Start(LogServiceOptions options,
                                                              const Clock& clock) {
  absl::StatusOr<std::unique_ptr<HotLogStore>> hot = HotLogStore::Open(options.hot_dir);
  if (!hot.ok()) return hot.status();
  std::unique_ptr<LogService> s(new LogService(std::move(options), clock, std::move(*hot)));
  s->writer_ = std::thread([p = s.get()] { p->WriterLoop(); });
  // Its own thread: archiving a day takes a while, and lines keep coming.
  if (s->cold_ != nullptr) s->retention_ = std::thread([p = s.get()] { p->RetentionLoop(); });
  return s;
}

LogService::LogService(LogServiceOptions options, const Clock& clock,
                       std::unique_ptr<HotLogStore> hot)
    : options_(std::move(options)), clock_(clock), hot_(std::move(hot)) {
  if (options_.cold != nullptr) {
    cold_ = std::make_unique<ColdLogArchive>(*options_.cold, options_.cold_prefix);
  }
  next_retention_ = clock_.Now();
}

LogService::~LogService() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
  if (retention_.joinable()) retention_.join();
}

LogSink& LogService::SinkFor(const std::string& default_service) {
  absl::MutexLock lock(&mu_);
  for (const auto& s : sinks_) {
    if (s->default_service() == default_service) return *s;
  }
  sinks_.push_back(std::make_unique<QueueSink>(*this, default_service));
  return *sinks_.back();
}

void LogService::Enqueue(const std::string* default_service, std::string_view line) {
  const TimePoint now = clock_.Now();
  absl::MutexLock lock(&mu_);
  ++stats_.received;
  if (stopping_ || queue_.size() >= options_.max_queued_lines) {
    ++stats_.dropped;
    return;
  }
  queue_.push_back({default_service, now, std::string(line)});
}

bool LogService::Drain() {
  std::vector<Pending> taken;
  {
    absl::MutexLock lock(&mu_);
    const size_t n = std::min(queue_.size(), kMaxBatch);
    taken.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      taken.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  if (taken.empty()) return false;
  std::vector<LogRecord> batch;
  batch.reserve(taken.size());
  for (const Pending& p : taken) batch.push_back(ParseLogLine(p.line, p.received, *p.default_service));
  const absl::Status stored = hot_->Append(batch);
  absl::MutexLock lock(&mu_);
  (stored.ok() ? stats_.stored : stats_.store_errors) += taken.size();
  return true;
}

void LogService::WriterLoop() {
  for (;;) {
    bool stop;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&ready),
                           absl::Milliseconds(options_.flush_interval.count()));
      stop = stopping_;
    }
    while (Drain()) {
    }
    if (stop) {
      while (Drain()) {
      }
      return;
    }
  }
}

void LogService::RetentionLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      // On the injected clock: a test moves it a month and the run follows.
      if (clock_.AwaitUntil(mu_, absl::Condition(&stopping), next_retention_)) return;
      next_retention_ = clock_.Now() + options_.retention_interval;
    }
    EnforceRetention().IgnoreError();  // a failed run is tried again next interval
  }
}

void LogService::Flush() {
  absl::MutexLock lock(&mu_);
  // Every line queued so far is stored or failed.
  const uint64_t target = stats_.received - stats_.dropped;
  auto done = [this, target]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return stats_.stored + stats_.store_errors >= target;
  };
  mu_.Await(absl::Condition(&done));
}

absl::StatusOr<RetentionReport> LogService::EnforceRetention() {
  if (cold_ == nullptr) return absl::FailedPreconditionError("the log store has no cold tier");
  absl::MutexLock lock(&retention_mu_);
  absl::StatusOr<RetentionReport> r = logs::EnforceRetention(*hot_, *cold_, options_.policy, clock_.Now());
  absl::MutexLock stats_lock(&mu_);
  ++stats_.retention_runs;
  return r;
}

absl::StatusOr<LogQueryResult> LogService::Query(const LogQuery& query) {
  absl::StatusOr<HotLogStore::Result> hot = hot_->Query(query);
  if (!hot.ok()) return hot.status();
  LogQueryResult out;
  out.truncated = hot->truncated;
  // Cold archives: only for a range that starts somewhere (--since), and
  // not when following.
  std::vector<LogLine> cold_lines;
  if (cold_ != nullptr && query.from_ms && !query.after && !hot->truncated) {
    absl::StatusOr<std::vector<Day>> days = cold_->Days();
    if (!days.ok()) return days.status();
    for (Day day : *days) {
      if ((day + 1) * kMsPerDay <= *query.from_ms || (query.to_ms && day * kMsPerDay >= *query.to_ms)) {
        continue;
      }
      absl::StatusOr<std::string> text = cold_->Read(day);
      if (!text.ok()) return text.status();
      ++out.cold_days_read;
      for (absl::string_view piece : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
        const std::string_view line(piece.data(), piece.size());
        const LogRecord r = ParseLogLine(line, TimePoint{}, "");
        if (r.ts_ms < *query.from_ms || (query.to_ms && r.ts_ms >= *query.to_ms) || !Matches(query, r)) {
          continue;
        }
        cold_lines.push_back({r.ts_ms, std::string(line), 0});
      }
    }
    std::stable_sort(cold_lines.begin(), cold_lines.end(),
                     [](const LogLine& a, const LogLine& b) { return a.ts_ms < b.ts_ms; });
  }
  const size_t room = query.limit - std::min(query.limit, hot->lines.size());
  if (cold_lines.size() > room) {
    out.truncated = true;
    cold_lines.erase(cold_lines.begin(), cold_lines.end() - static_cast<ptrdiff_t>(room));
  }
  out.lines = std::move(cold_lines);
  out.lines.insert(out.lines.end(), std::make_move_iterator(hot->lines.begin()),
                   std::make_move_iterator(hot->lines.end()));
  out.cursor = query.after ? (out.lines.empty() ? *query.after : out.lines.back().cursor) : hot->end;
  return out;
}

LogService::Stats LogService::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace hut::logs
