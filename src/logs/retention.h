#ifndef HUT_LOGS_RETENTION_H_
#define HUT_LOGS_RETENTION_H_

// The logging policy's retention (ADR-009: 30 days hot, 1 year cold): a day
// whose end is `hot_retention` past moves to the cold archive, compressed
// and checked; one whose end is `cold_retention` past is deleted, from
// either tier. A day is whole in one tier at a time; lines that arrive for
// a day already archived join its archive on the next run.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/clock.h"
#include "src/logs/cold_archive.h"
#include "src/logs/hot_store.h"
#include "src/spec/spec.h"

namespace hut::logs {

struct RetentionReport {
  std::vector<Day> archived;  // hot -> cold
  int64_t lines_archived = 0;
  std::vector<Day> deleted;   // past the cold retention
  int64_t lines_deleted = 0;
};

absl::StatusOr<RetentionReport> EnforceRetention(HotLogStore& hot, ColdLogArchive& cold,
                                                 const spec::LoggingPolicy& policy, TimePoint now);

}  // namespace hut::logs

#endif  // HUT_LOGS_RETENTION_H_
