#ifndef HUT_LOGS_COLD_ARCHIVE_H_
#define HUT_LOGS_COLD_ARCHIVE_H_

// The cold tier: a day of log lines as one zstd-compressed JSON-lines object
// (PREFIX/YYYY-MM-DD.jsonl.zst) and its manifest (PREFIX/YYYY-MM-DD.json:
// lines, bytes), in an object store (a folder here, S3 in AWS).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/logs/hot_store.h"
#include "src/objectstore/object_store.h"

namespace hut::logs {

class ColdLogArchive {
 public:
  // `prefix` ends with '/' ("logs/production/").
  ColdLogArchive(objectstore::ObjectStore& store, std::string prefix)
      : store_(store), prefix_(std::move(prefix)) {}

  // Stores `day`'s lines (each ending with '\n'), then reads the object back
  // and checks it holds `lines` lines: only then is the day archived.
  absl::Status Write(Day day, const std::string& jsonl, int64_t lines);
  // The day's lines, decompressed; NotFound when it has no archive.
  absl::StatusOr<std::string> Read(Day day);
  // The manifest's count.
  absl::StatusOr<int64_t> Lines(Day day);
  // The days archived, oldest first.
  absl::StatusOr<std::vector<Day>> Days();
  absl::Status Delete(Day day);

 private:
  std::string DataKey(Day day) const;
  std::string ManifestKey(Day day) const;
  objectstore::ObjectStore& store_;
  const std::string prefix_;
};

}  // namespace hut::logs

#endif  // HUT_LOGS_COLD_ARCHIVE_H_
