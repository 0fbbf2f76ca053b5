#include "src/cli/logs.h"

#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "src/cli/api_client.h"
#include "src/cli/output.h"

namespace hut::cli {
namespace {

using nlohmann::json;

// Fields every line shows in place; the rest follow as key=value.
bool Shown(const std::string& key) {
  return key == "ts" || key == "level" || key == "msg" || key == "service" || key == "replica";
}

std::string Colour(const std::string& replica) {
  static const int kColours[] = {36, 33, 32, 35, 34, 96, 93, 92, 95, 94};
  return absl::StrCat("\x1b[", kColours[std::hash<std::string>{}(replica) % std::size(kColours)], "m");
}

void Print(const json& line, const Io& io) {
  if (!line.is_object()) return;
  const std::string replica = Str(line, "replica").empty() ? Str(line, "service") : Str(line, "replica");
  const std::string level = Str(line, "level");
  std::string out;
  if (io.interactive) {
    absl::StrAppend(&out, Colour(replica), replica, "\x1b[0m ", Str(line, "ts"), " ",
                    level == "ERROR" ? "\x1b[31m" : level == "WARN" ? "\x1b[33m" : "", level,
                    level == "ERROR" || level == "WARN" ? "\x1b[0m" : "");
  } else {
    absl::StrAppend(&out, replica, " ", Str(line, "ts"), " ", level);
  }
  absl::StrAppend(&out, " ", Str(line, "msg"));
  for (const auto& [key, value] : line.items()) {
    if (Shown(key)) continue;
    absl::StrAppend(&out, " ", key, "=", value.is_string() ? value.get<std::string>() : value.dump());
  }
  io.out << out << "\n";
}

void PrintAll(const json& answer, bool as_json, const Io& io) {
  const json lines = Field(answer, "lines");
  if (!as_json) {
    PrintLogLines(lines, io);
    return;
  }
  for (const json& l : lines.is_array() ? lines : json::array()) io.out << l.dump() << "\n";
  io.out.flush();
}

}  // namespace

void PrintLogLines(const json& lines, const Io& io) {
  for (const json& l : lines.is_array() ? lines : json::array()) Print(l, io);
  io.out.flush();
}

int RunLogs(const LogsOptions& o, const Io& io) {
  const std::string command = "hut logs";
  absl::StatusOr<ApiClient> client = Connect(o.environment, io);
  if (!client.ok()) {
    io.err << command << ": " << client.status().message() << "\n";
    return kExitFailure;
  }
  std::map<std::string, std::string> filters;
  if (!o.level.empty()) filters["level"] = o.level;
  if (!o.grep.empty()) filters["grep"] = o.grep;
  if (!o.trace.empty()) filters["trace"] = o.trace;
  if (!o.version.empty()) filters["version"] = o.version;
  std::map<std::string, std::string> query = filters;
  if (!o.from.empty()) {
    query["from"] = o.from;
  } else if (!o.since.empty()) {
    query["since"] = o.since;
  } else if (o.trace.empty()) {
    query["since"] = "1h";
  }
  if (!o.to.empty()) query["to"] = o.to;
  query["limit"] = std::to_string(o.limit);
  absl::StatusOr<json> answer = client->Logs(o.service, query);
  if (!answer.ok()) {
    io.err << command << ": " << answer.status().message() << "\n";
    return kExitFailure;
  }
  PrintAll(*answer, o.json, io);
  if (Int(*answer, "cold_days_read") > 0) {
    io.err << "(read " << Int(*answer, "cold_days_read")
           << " day(s) from the cold archive: older than the hot retention, slower)\n";
  }
  if (Bool(*answer, "truncated")) {
    io.err << "(more lines matched: the newest " << o.limit
           << " are shown; narrow with --since, --level or --grep, or raise --limit)\n";
  }
  if (!o.follow) return kExitOk;
  int64_t cursor = Int(*answer, "cursor");
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::map<std::string, std::string> next = filters;
    next["after"] = std::to_string(cursor);
    next["limit"] = "100000";
    absl::StatusOr<json> more = client->Logs(o.service, next);
    if (!more.ok()) {
      if (more.status().code() == absl::StatusCode::kUnavailable) {
        io.err << command << ": the server went away; stopped following\n";
        return kExitOk;
      }
      io.err << command << ": " << more.status().message() << "\n";
      return kExitFailure;
    }
    PrintAll(*more, o.json, io);
    cursor = Int(*more, "cursor");
  }
}

}  // namespace hut::cli
