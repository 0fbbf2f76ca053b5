#ifndef HUT_LOGS_LOG_SERVICE_H_
#define HUT_LOGS_LOG_SERVICE_H_

// The central log store of one environment (docs/logs.md): every
// component's JSON lines come in through sinks (SinkFor), a writer thread
// stores them in the hot tier in batches, queries read the hot tier and,
// for older ranges, the cold archives, and the retention policy runs every
// hour of the injected clock, on a thread of its own.
//
// Writing never blocks a caller on the store: lines wait in a bounded queue
// (max_queued_lines); past it they are dropped and counted.

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/logs/cold_archive.h"
#include "src/logs/hot_store.h"
#include "src/logs/retention.h"
#include "src/objectstore/object_store.h"
#include "src/spec/spec.h"

namespace hut::logs {

struct LogServiceOptions {
  std::string hot_dir;                      // the hot tier's databases
  objectstore::ObjectStore* cold = nullptr;  // the cold tier; must outlive the service
  std::string cold_prefix = "logs/";        // e.g. "logs/production/"
  spec::LoggingPolicy policy;
  size_t max_queued_lines = 200'000;
  std::chrono::milliseconds flush_interval{100};
  Duration retention_interval = std::chrono::hours(1);  // on the injected clock
};

struct LogQueryResult {
  std::vector<LogLine> lines;  // oldest first
  bool truncated = false;      // more matched than the limit: the newest are kept
  int cold_days_read = 0;      // archives decompressed and scanned for this answer
  // Where to follow from: the last line's cursor, else the store's end.
  int64_t cursor = 0;
};

class LogService {
 public:
  static absl::StatusOr<std::unique_ptr<LogService>> Start(LogServiceOptions options,
                                                           const Clock& clock);
  ~LogService();  // stores what is queued, then stops

  // A sink for a component's lines; lines without "service" get
  // `default_service`. Owned by the service; valid while it lives.
  LogSink& SinkFor(const std::string& default_service);
  // Returns once every line written before the call is stored.
  void Flush();
  absl::StatusOr<LogQueryResult> Query(const LogQuery& query);
  // Runs the retention policy now (the writer thread does every
  // retention_interval of the clock).
  absl::StatusOr<RetentionReport> EnforceRetention();

  struct Stats {
    uint64_t received = 0, stored = 0, dropped = 0, store_errors = 0, retention_runs = 0;
  };
  Stats stats() const;

 private:
  LogService(LogServiceOptions options, const Clock& clock, std::unique_ptr<HotLogStore> hot);
  class QueueSink;
  struct Pending {
    const std::string* default_service;
    TimePoint received;
    std::string line;
  };
  void Enqueue(const std::string* default_service, std::string_view line);
  void WriterLoop();
  void RetentionLoop();  // runs the policy every retention_interval of the clock
  // Stores what is queued now; false when there was nothing.
  bool Drain();

  const LogServiceOptions options_;
  const Clock& clock_;
  std::unique_ptr<HotLogStore> hot_;
  std::unique_ptr<ColdLogArchive> cold_;  // null without a cold store
  absl::Mutex retention_mu_;              // one retention run at a time

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<QueueSink>> sinks_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  TimePoint next_retention_ ABSL_GUARDED_BY(mu_);
  std::thread writer_;
  std::thread retention_;  // with a cold tier only
};

}  // namespace hut::logs

#endif  // HUT_LOGS_LOG_SERVICE_H_
