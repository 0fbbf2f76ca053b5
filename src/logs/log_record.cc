#include "src/logs/log_record.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace hut::logs {
namespace {

using json = nlohmann::json;

std::string StringField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int Digits(std::string_view s, size_t at, size_t n, bool* ok) {
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (i >= s.size() || !absl::ascii_isdigit(s[i])) {
      *ok = false;
      return 0;
    }
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

std::optional<int64_t> ParseTimestampMs(std::string_view s) {
  // The fast path: what FormatTimestamp writes, 2026-12-04T21:22:00.123Z.
  bool ok = s.size() == 24 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
            s[16] == ':' && s[19] == '.' && s[23] == 'Z';
  if (ok) {
    const int y = Digits(s, 0, 4, &ok), mo = Digits(s, 5, 2, &ok), d = Digits(s, 8, 2, &ok);
    const int h = Digits(s, 11, 2, &ok), mi = Digits(s, 14, 2, &ok), sec = Digits(s, 17, 2, &ok);
    const int ms = Digits(s, 20, 3, &ok);
    if (ok && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec < 61) {
      return absl::ToUnixMillis(absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, sec),
                                                absl::UTCTimeZone())) +
             ms;
    }
  }
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(s), &t, &err)) return std::nullopt;
  return absl::ToUnixMillis(t);
}

LogRecord ParseLogLine(std::string_view line, TimePoint received,
                       std::string_view default_service) {
  LogRecord r;
  r.ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(received.time_since_epoch())
                .count();
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    r.service = std::string(default_service);
    r.line = json{{"ts", FormatTimestamp(received)},
                  {"level", "INFO"},
                  {"msg", std::string(line)},
                  {"service", r.service}}
                 .dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  if (auto ts = ParseTimestampMs(StringField(j, "ts"))) r.ts_ms = *ts;
  if (auto level = ParseLogLevel(StringField(j, "level"))) r.level = *level;
  r.service = StringField(j, "service");
  r.line = std::string(line);
  if (r.service.empty() && !default_service.empty()) {
    // Written into the line too, so that the line alone (a cold archive's)
    // says whose it is.
    r.service = std::string(default_service);
    const size_t end = r.line.find_last_of('}');
    r.line.resize(end);
    absl::StrAppend(&r.line, j.empty() ? "" : ",", "\"service\":", json(r.service).dump(), "}");
  }
  r.version = StringField(j, "version");
  r.replica = StringField(j, "replica");
  r.component = StringField(j, "component");
  r.trace_id = StringField(j, "trace_id");
  r.request_id = StringField(j, "request_id");
  return r;
}

}  // namespace hut::logs
