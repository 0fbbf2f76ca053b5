#include "src/logs/retention.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hut::logs {
namespace {

constexpr int64_t kMsPerDay = 86'400'000;

int64_t Ms(Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

}  // namespace

absl::StatusOr<RetentionReport> EnforceRetention(HotLogStore& hot, ColdLogArchive& cold,
                                                 const spec::LoggingPolicy& policy, TimePoint now) {
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  auto past = [&](Day day, Duration keep) { return (day + 1) * kMsPerDay + Ms(keep) <= now_ms; };
  RetentionReport report;
  absl::StatusOr<std::vector<Day>> archived = cold.Days();
  if (!archived.ok()) return archived.status();

  for (Day day : hot.Days()) {
    if (past(day, policy.cold_retention)) {
      int64_t n = 0;
      absl::StatusOr<int64_t> counted = hot.Export(day, [&](const std::string&) { ++n; });
      if (!counted.ok()) return counted.status();
      if (absl::Status s = hot.Drop(day); !s.ok()) return s;
      report.deleted.push_back(day);
      report.lines_deleted += n;
      continue;
    }
    if (!past(day, policy.hot_retention)) continue;
    std::string jsonl;
    int64_t lines = 0;
    const bool joins = std::binary_search(archived->begin(), archived->end(), day);
    if (joins) {  // late lines for a day already archived
      absl::StatusOr<std::string> before = cold.Read(day);
      absl::StatusOr<int64_t> count = cold.Lines(day);
      if (!before.ok()) return before.status();
      if (!count.ok()) return count.status();
      jsonl = std::move(*before);
      lines = *count;
    }
    absl::StatusOr<int64_t> added = hot.Export(day, [&](const std::string& line) {
      jsonl.append(line);
      jsonl.push_back('\n');
    });
    if (!added.ok()) return added.status();
    if (absl::Status s = cold.Write(day, jsonl, lines + *added); !s.ok()) return s;
    if (absl::Status s = hot.Drop(day); !s.ok()) return s;
    report.archived.push_back(day);
    report.lines_archived += *added;
  }

  archived = cold.Days();
  if (!archived.ok()) return archived.status();
  for (Day day : *archived) {
    if (!past(day, policy.cold_retention)) continue;
    absl::StatusOr<int64_t> n = cold.Lines(day);
    if (absl::Status s = cold.Delete(day); !s.ok()) return s;
    report.deleted.push_back(day);
    report.lines_deleted += n.ok() ? *n : 0;
  }
  std::sort(report.deleted.begin(), report.deleted.end());
  return report;
}

}  // namespace hut::logs
