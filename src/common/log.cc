#include "src/common/log.h"

#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace hut {

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kDebug:
      return "DEBUG";
  }
  return "INFO";
}

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  std::string upper = absl::AsciiStrToUpper(std::string(name));
  for (LogLevel l : {LogLevel::kError, LogLevel::kWarn, LogLevel::kInfo, LogLevel::kDebug}) {
    if (upper == LogLevelName(l)) return l;
  }
  return std::nullopt;
}

void StreamLogSink::Write(std::string_view line) {
  absl::MutexLock lock(&mu_);
  std::fwrite(line.data(), 1, line.size(), stream_);
  std::fputc('\n', stream_);
  std::fflush(stream_);
}

Logger::Logger(LogSink& sink, const Clock& clock, std::string component, LogLevel min_level)
    : sink_(&sink), clock_(&clock), component_(std::move(component)), min_level_(min_level) {}

Logger Logger::With(const nlohmann::ordered_json& fields) const {
  Logger copy = *this;
  for (const auto& [key, value] : fields.items()) copy.bound_[key] = value;
  return copy;
}

Logger Logger::ForComponent(std::string component) const {
  Logger copy = *this;
  copy.component_ = std::move(component);
  return copy;
}

void Logger::Log(LogLevel level, std::string_view msg,
                 const nlohmann::ordered_json& fields) const {
  if (!Enabled(level)) return;
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  line["ts"] = FormatTimestamp(clock_->Now());
  line["level"] = LogLevelName(level);
  line["msg"] = msg;
  line["component"] = component_;
  for (const auto& [key, value] : bound_.items()) line[key] = value;
  for (const auto& [key, value] : fields.items()) {
    // The four fixed keys are never overwritten by callers.
    if (key == "ts" || key == "level" || key == "msg" || key == "component") continue;
    line[key] = value;
  }
  // Replace invalid UTF-8 rather than throw: a log call never fails.
  sink_->Write(line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

std::string FormatTimestamp(TimePoint t) {
  auto since_epoch = t.time_since_epoch();
  auto secs = std::chrono::floor<std::chrono::seconds>(since_epoch);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count();
  std::time_t tt = secs.count();
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
}

}  // namespace hut
