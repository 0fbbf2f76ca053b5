#ifndef HUT_LOGS_LOG_RECORD_H_
#define HUT_LOGS_LOG_RECORD_H_

// One collected log line and the fields the log store indexes. Every
// component writes JSON lines (src/common/log.h: ts, level, msg, component,
// and service, version, replica, trace_id, request_id where they apply); the
// line is kept as written and these fields are read from it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "src/common/clock.h"
#include "src/common/log.h"

namespace hut::logs {

struct LogRecord {
  int64_t ts_ms = 0;  // "ts", else when it was received
  LogLevel level = LogLevel::kInfo;
  std::string service, version, replica, component, trace_id, request_id;
  std::string line;  // as written (a line that is not JSON is wrapped: see ParseLogLine)
};

// Reads `line`'s fields. A line that is not a JSON object becomes
// {"ts", "level": "INFO", "msg": line, "service": default_service}; a JSON
// line without "service" gets `default_service`, in the record and in the line.
LogRecord ParseLogLine(std::string_view line, TimePoint received,
                       std::string_view default_service);

// RFC 3339 ("2026-12-04T21:22:00.123Z", "...+01:00") as milliseconds since
// the epoch; nullopt when it is not one.
std::optional<int64_t> ParseTimestampMs(std::string_view text);

}  // namespace hut::logs

#endif  // HUT_LOGS_LOG_RECORD_H_
