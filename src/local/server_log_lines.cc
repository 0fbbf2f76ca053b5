#include "src/local/server_log_lines.h"

#include <array>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "src/common/log.h"

namespace hut::local {
namespace {

using json = nlohmann::ordered_json;

json Base(const ServerLogOrigin& origin, std::string_view level, std::string msg) {
  return json{{"ts", FormatTimestamp(std::chrono::system_clock::now())},
              {"level", std::string(level)},
              {"msg", std::move(msg)},
              {"component", origin.component},
              {"service", origin.service}};
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A line in no format we know: as it is.
std::string Plain(std::string_view line, const ServerLogOrigin& origin) {
  return Dump(Base(origin, "INFO", std::string(line)));
}

std::string_view PostgresLevel(std::string_view severity) {
  if (severity.starts_with("DEBUG")) return "DEBUG";
  if (severity == "WARNING") return "WARN";
  if (severity == "ERROR" || severity == "FATAL" || severity == "PANIC") return "ERROR";
  return "INFO";  // LOG, INFO, NOTICE
}

}  // namespace

std::optional<std::string> PostgresLogLine(std::string_view line, const ServerLogOrigin& origin) {
  const json in = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!in.is_object()) return Plain(line, origin);
  json out = Base(origin, PostgresLevel(in.value("error_severity", "LOG")),
                  in.value("message", ""));
  // "2026-12-07 13:00:00.123 UTC"
  absl::Time t;
  std::string error;
  if (absl::ParseTime("%Y-%m-%d %H:%M:%E*S UTC", in.value("timestamp", ""), &t, &error)) {
    out["ts"] = FormatTimestamp(absl::ToChronoTime(t));
  }
  if (in.value("error_severity", "") != "LOG") out["severity"] = in.value("error_severity", "");
  for (const char* key : {"pid", "user", "dbname", "application_name", "backend_type",
                          "state_code", "detail", "hint", "context", "remote_host"}) {
    if (in.contains(key)) out[key] = in[key];
  }
  return Dump(out);
}

std::optional<std::string> RedisLogLine(std::string_view line, const ServerLogOrigin& origin) {
  // PID:ROLE, then 4 date and time fields, the level mark, the message.
  const std::vector<std::string> f = absl::StrSplit(std::string(line), absl::MaxSplits(' ', 6));
  if (f.size() < 7 || f[5].size() != 1 || !absl::StrContains(f[0], ':')) {
    return Plain(line, origin);
  }
  absl::Time t;
  std::string error;
  if (!absl::ParseTime("%d %b %Y %H:%M:%E*S", absl::StrCat(f[1], " ", f[2], " ", f[3], " ", f[4]),
                       absl::UTCTimeZone(), &t, &error)) {
    return Plain(line, origin);
  }
  std::string_view level = "INFO";
  switch (f[5][0]) {
    case '.':
    case '-':
      level = "DEBUG";
      break;
    case '#':
      level = "WARN";
      break;
    case '*':
      break;
    default:
      return Plain(line, origin);
  }
  json out = Base(origin, level, f[6]);
  out["ts"] = FormatTimestamp(absl::ToChronoTime(t));
  const std::pair<std::string, std::string> pid_role = absl::StrSplit(f[0], ':');
  if (int pid = 0; absl::SimpleAtoi(pid_role.first, &pid)) out["pid"] = pid;
  out["role"] = pid_role.second;
  return Dump(out);
}

std::optional<std::string> HaproxyLogLine(std::string_view line, const ServerLogOrigin& origin) {
  if (line.starts_with("{")) {
    json in = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!in.is_object()) return Plain(line, origin);
    const int status = in.value("status", 0);
    json out = Base(origin, status >= 500 || status <= 0 ? "WARN" : "INFO",
                    absl::StrCat(in.value("method", ""), " ", in.value("path", ""), " ", status));
    int64_t seconds = 0, ms = 0;
    if (in["accept_s"].is_number_integer() &&
        absl::SimpleAtoi(in.value("accept_ms", std::string("0")), &ms)) {
      seconds = in["accept_s"].get<int64_t>();
      out["ts"] = FormatTimestamp(TimePoint(std::chrono::milliseconds(seconds * 1000 + ms)));
    }
    in.erase("accept_s");
    in.erase("accept_ms");
    // traceparent: 00-TRACEID-SPANID-FLAGS; the trace id is what the store indexes.
    const std::string traceparent = in.value("traceparent", "");
    in.erase("traceparent");
    if (const std::vector<std::string> tp = absl::StrSplit(traceparent, '-');
        tp.size() == 4 && tp[1].size() == 32) {
      out["trace_id"] = tp[1];
    }
    // HAProxy writes "-" for an empty capture.
    if (const std::string id = in.value("request_id", ""); id.empty() || id == "-") {
      in.erase("request_id");
    }
    for (auto& [k, v] : in.items()) out[k] = v;
    return Dump(out);
  }
  // "[NOTICE]   (1234) : text"
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kLevels = {
      {{"[NOTICE]", "INFO"},
       {"[WARNING]", "WARN"},
       {"[ALERT]", "ERROR"},
       {"[EMERG]", "ERROR"},
       {"[DEBUG]", "DEBUG"}}};
  for (const auto& [mark, level] : kLevels) {
    if (!line.starts_with(mark)) continue;
    std::string_view rest = line.substr(mark.size());
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (const size_t colon = rest.find(" : "); colon != std::string_view::npos) {
      rest = rest.substr(colon + 3);
    }
    return Dump(Base(origin, level, std::string(rest)));
  }
  return Plain(line, origin);
}

}  // namespace hut::local
