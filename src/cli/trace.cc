#include "src/cli/trace.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "src/cli/api_client.h"
#include "src/cli/logs.h"
#include "src/cli/output.h"

namespace hut::cli {
namespace {

using nlohmann::json;

std::string Ms(int64_t us) { return absl::StrFormat("%.1f ms", us / 1000.0); }

}  // namespace

int RunTrace(const TraceOptions& o, const Io& io) {
  const std::string command = "hut trace";
  absl::StatusOr<ApiClient> client = Connect(o.environment, io);
  if (!client.ok()) {
    io.err << command << ": " << client.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<json> answer = client->Trace(o.trace_id);
  if (!answer.ok()) {
    io.err << command << ": " << answer.status().message() << "\n";
    return kExitFailure;
  }
  if (o.json) {
    io.out << answer->dump(2) << "\n";
    return kExitOk;
  }
  const json spans = Field(*answer, "spans");
  std::vector<json> all = spans.is_array() ? spans.get<std::vector<json>>() : std::vector<json>{};
  std::set<std::string> ids, services;
  int64_t begin = INT64_MAX, end = 0;
  for (const json& s : all) {
    ids.insert(Str(s, "span_id"));
    services.insert(Str(s, "service"));
    begin = std::min(begin, Int(s, "start_us"));
    end = std::max(end, Int(s, "start_us") + Int(s, "duration_us"));
  }
  std::map<std::string, std::vector<const json*>> children;  // parent -> spans, by start
  for (const json& s : all) {
    const std::string parent = Str(s, "parent_id");
    children[ids.contains(parent) ? parent : ""].push_back(&s);
  }
  io.out << "Trace " << o.trace_id << ": " << all.size() << " span(s)";
  if (!all.empty()) {
    std::vector<std::string> names(services.begin(), services.end());
    io.out << " in " << absl::StrJoin(names, ", ") << ", " << Ms(end - begin);
  }
  io.out << "\n";
  if (!Str(*answer, "spans_error").empty()) io.out << "  (spans: " << Str(*answer, "spans_error") << ")\n";
  std::vector<std::vector<std::string>> rows;
  if (!all.empty()) rows.push_back({"START", "DURATION", "SPAN"});
  std::function<void(const std::string&, int)> walk = [&](const std::string& parent, int depth) {
    for (const json* s : children[parent]) {
      std::string what = absl::StrCat(std::string(depth * 2, ' '), Str(*s, "service"), "  ", Str(*s, "name"));
      const json attrs = Field(*s, "attributes");
      for (const char* key : {"http.response.status_code", "db.system.name", "cache.hit"}) {
        if (attrs.is_object() && attrs.contains(key)) absl::StrAppend(&what, "  ", key, "=", attrs[key].dump());
      }
      if (Bool(*s, "error")) absl::StrAppend(&what, "  ERROR");
      rows.push_back({absl::StrCat("+", Ms(Int(*s, "start_us") - begin)), Ms(Int(*s, "duration_us")), what});
      walk(Str(*s, "span_id"), depth + 1);
    }
  };
  walk("", 0);
  if (!rows.empty()) PrintTable(io.out, rows);
  const json logs = Field(*answer, "logs");
  const size_t n = logs.is_array() ? logs.size() : 0;
  io.out << "\nLog lines of this trace (" << n << "):\n";
  if (n > 0) PrintLogLines(logs, io);
  return kExitOk;
}

}  // namespace hut::cli
