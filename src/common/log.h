#ifndef HUT_COMMON_LOG_H_
#define HUT_COMMON_LOG_H_

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "src/common/clock.h"

namespace hut {

// Structured logging: one JSON object per line with, in this order, "ts"
// (RFC 3339, UTC, milliseconds), "level", "msg", "component", the logger's
// bound fields (e.g. "trace_id", "request_id") and the call's extra fields.
enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

std::string_view LogLevelName(LogLevel level);
// Accepts ERROR, WARN, INFO, DEBUG in any case.
std::optional<LogLevel> ParseLogLevel(std::string_view name);

// Where finished lines go. Write() receives one line without its newline and
// must be safe for concurrent use.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Write(std::string_view line) = 0;
};

// Writes lines to a stdio stream (stderr by default), one write per line.
class StreamLogSink final : public LogSink {
 public:
  explicit StreamLogSink(FILE* stream = stderr) : stream_(stream) {}
  void Write(std::string_view line) override;

 private:
  absl::Mutex mu_;
  FILE* const stream_ ABSL_PT_GUARDED_BY(mu_);  // one line at a time
};

// A cheap value: copies share the sink and clock (which must outlive it).
// Safe for concurrent use when the sink is.
class Logger {
 public:
  Logger(LogSink& sink, const Clock& clock, std::string component,
         LogLevel min_level = LogLevel::kInfo);

  // A logger that adds `fields` (a JSON object) to every line it writes.
  Logger With(const nlohmann::ordered_json& fields) const;
  // A logger for another component sharing sink, clock, level and fields.
  Logger ForComponent(std::string component) const;

  bool Enabled(LogLevel level) const { return level <= min_level_; }
  void Log(LogLevel level, std::string_view msg,
           const nlohmann::ordered_json& fields = nlohmann::ordered_json::object()) const;

  void Error(std::string_view msg, const nlohmann::ordered_json& fields =
                                       nlohmann::ordered_json::object()) const {
    Log(LogLevel::kError, msg, fields);
  }
  void Warn(std::string_view msg, const nlohmann::ordered_json& fields =
                                      nlohmann::ordered_json::object()) const {
    Log(LogLevel::kWarn, msg, fields);
  }
  void Info(std::string_view msg, const nlohmann::ordered_json& fields =
                                      nlohmann::ordered_json::object()) const {
    Log(LogLevel::kInfo, msg, fields);
  }
  void Debug(std::string_view msg, const nlohmann::ordered_json& fields =
                                       nlohmann::ordered_json::object()) const {
    Log(LogLevel::kDebug, msg, fields);
  }

 private:
  LogSink* sink_;
  const Clock* clock_;
  std::string component_;
  LogLevel min_level_;
  nlohmann::ordered_json bound_ = nlohmann::ordered_json::object();
};

// Formats a time point as RFC 3339 UTC with milliseconds: 2026-11-28T15:24:33.123Z.
std::string FormatTimestamp(TimePoint t);

}  // namespace hut

#endif  // HUT_COMMON_LOG_H_
