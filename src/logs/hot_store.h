#ifndef HUT_LOGS_HOT_STORE_H_
#define HUT_LOGS_HOT_STORE_H_

// The hot tier of the log store: one SQLite database per UTC day
// (DIR/YYYY-MM-DD.db), indexed by service and time and by trace id, so that
// a day moves to the cold tier or goes as one file. Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/logs/log_record.h"

struct sqlite3;

namespace hut::logs {

// A UTC day as days since 1970-01-01.
using Day = int64_t;
Day DayOf(int64_t ts_ms);
std::string DayName(Day day);  // "2026-12-04"
std::optional<Day> ParseDayName(std::string_view name);

struct LogQuery {
  std::string service;  // "" every service
  std::optional<int64_t> from_ms, to_ms;  // [from, to)
  LogLevel level = LogLevel::kDebug;      // this level and the more severe ones
  std::string version, trace_id;
  std::string grep;  // a substring of the line, case-sensitive
  // Only lines after this position (a LogLine::cursor): what -f has not seen.
  std::optional<int64_t> after;
  size_t limit = 10'000;  // the newest `limit` lines of the range
};

struct LogLine {
  int64_t ts_ms = 0;
  std::string line;
  // Where it is: its day and row, in the order lines were stored (hot tier
  // only; 0 for a cold line).
  int64_t cursor = 0;
};

// Whether `r` (and its line) passes `q`'s filters other than time and cursor.
bool Matches(const LogQuery& q, const LogRecord& r);

class HotLogStore {
 public:
  // Creates `dir` when missing.
  static absl::StatusOr<std::unique_ptr<HotLogStore>> Open(const std::string& dir);
  ~HotLogStore();

  // Stores `batch`, one transaction per day it touches.
  absl::Status Append(const std::vector<LogRecord>& batch);
  // The lines matching `q`, oldest first; `truncated` when more matched than
  // q.limit (the newest are kept).
  struct Result {
    std::vector<LogLine> lines;
    bool truncated = false;
    // Without q.after: the cursor of the newest line stored when the query
    // ran (0: none), where following it starts.
    int64_t end = 0;
  };
  absl::StatusOr<Result> Query(const LogQuery& q);
  // The days present, oldest first.
  std::vector<Day> Days();
  // Every line of `day` in the order stored; returns how many.
  absl::StatusOr<int64_t> Export(Day day, const std::function<void(const std::string&)>& each);
  // Deletes `day`'s database.
  absl::Status Drop(Day day);

  const std::string& dir() const { return dir_; }

 private:
  explicit HotLogStore(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<sqlite3*> DbFor(Day day, bool create) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The newest line's cursor among `days` (oldest first); 0 when none.
  absl::StatusOr<int64_t> EndCursor(const std::vector<Day>& days) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string PathOf(Day day) const;

  const std::string dir_;
  absl::Mutex mu_;
  std::map<Day, sqlite3*> dbs_ ABSL_GUARDED_BY(mu_);  // open connections
};

}  // namespace hut::logs

#endif  // HUT_LOGS_HOT_STORE_H_
