#include "src/cli/output.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace hut::cli {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}
int64_t Int(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}
bool Bool(const json& j, const char* key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
json Field(const json& j, const char* key) {
  if (!j.is_object()) return json();
  auto it = j.find(key);
  return it == j.end() ? json() : *it;
}

std::string LocalTime(const std::string& rfc3339, const char* format) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) return rfc3339;
  return absl::FormatTime(format, t, absl::LocalTimeZone());
}
std::string ClockTime(const std::string& rfc3339) { return LocalTime(rfc3339, "%H:%M:%S"); }
std::string DateTime(const std::string& rfc3339) {
  return rfc3339.empty() ? "-" : LocalTime(rfc3339, "%Y-%m-%d %H:%M:%S");
}

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string Revisions(const json& rollout) {
  const int64_t from = Int(rollout, "from_revision");
  const int64_t to = Int(rollout, "to_revision");
  return from == 0 ? absl::StrCat("revision ", to, " (first deployment)")
                   : absl::StrCat("revision ", from, " -> ", to);
}

}  // namespace hut::cli
