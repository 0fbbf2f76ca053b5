#ifndef HUT_LOCAL_SERVER_LOG_LINES_H_
#define HUT_LOCAL_SERVER_LOG_LINES_H_

// The lines of the servers hut runs, as hut's JSON log lines (log_record.h:
// ts, level, msg, component, service, and what the server said besides), for
// the central log store. A line that is not in the server's format is kept
// as its msg, at INFO.

#include <optional>
#include <string>
#include <string_view>

namespace hut::local {

struct ServerLogOrigin {
  std::string service;    // "load-balancer", or the backing service's name
  std::string component;  // "postgresql", "redis", "haproxy"
};

// PostgreSQL 15's jsonlog (log_destination=jsonlog, log_timezone=UTC). The
// statement and internal query are left out: a failed ALTER ROLE … PASSWORD
// would put a password in the log.
std::optional<std::string> PostgresLogLine(std::string_view line, const ServerLogOrigin& origin);

// Redis 7: "PID:ROLE DD Mon YYYY HH:MM:SS.mmm L message" (TZ=UTC), L one of
// . - * # (debug, verbose, notice, warning).
std::optional<std::string> RedisLogLine(std::string_view line, const ServerLogOrigin& origin);

// HAProxy: an access line in the JSON of Haproxy's log-format (haproxy.cc),
// or one of its own messages, "[NOTICE]   (PID) : text".
std::optional<std::string> HaproxyLogLine(std::string_view line, const ServerLogOrigin& origin);

}  // namespace hut::local

#endif  // HUT_LOCAL_SERVER_LOG_LINES_H_
