#include "src/logs/cold_archive.h"

#include <zstd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace hut::logs {
namespace {

using json = nlohmann::json;

absl::StatusOr<std::string> Decompress(const std::string& data, const std::string& what) {
  const unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return absl::DataLossError(absl::StrCat(what, ": not a zstd frame of known size"));
  }
  std::string out(size, '\0');
  const size_t n = ZSTD_decompress(out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n) || n != size) {
    return absl::DataLossError(absl::StrCat(what, ": ", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  return out;
}

}  // namespace

std::string ColdLogArchive::DataKey(Day day) const { return absl::StrCat(prefix_, DayName(day), ".jsonl.zst"); }
std::string ColdLogArchive::ManifestKey(Day day) const { return absl::StrCat(prefix_, DayName(day), ".json"); }

absl::Status ColdLogArchive::Write(Day day, const std::string& jsonl, int64_t lines) {
  std::string packed(ZSTD_compressBound(jsonl.size()), '\0');
  const size_t n = ZSTD_compress(packed.data(), packed.size(), jsonl.data(), jsonl.size(), 3);
  if (ZSTD_isError(n)) return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(n)));
  packed.resize(n);
  if (absl::Status s = store_.Put(DataKey(day), packed); !s.ok()) return s;
  absl::StatusOr<std::string> back = Read(day);
  if (!back.ok()) return back.status();
  const int64_t counted = std::count(back->begin(), back->end(), '\n');
  if (*back != jsonl || counted != lines) {
    return absl::DataLossError(absl::StrCat("cold archive ", DataKey(day), ": read back ", counted,
                                            " lines, wrote ", lines));
  }
  return store_.Put(ManifestKey(day),
                    json{{"day", DayName(day)}, {"lines", lines}, {"bytes", jsonl.size()},
                         {"compressed_bytes", packed.size()}}
                        .dump());
}

absl::StatusOr<std::string> ColdLogArchive::Read(Day day) {
  absl::StatusOr<std::string> data = store_.Get(DataKey(day));
  if (!data.ok()) return data.status();
  return Decompress(*data, DataKey(day));
}

absl::StatusOr<int64_t> ColdLogArchive::Lines(Day day) {
  absl::StatusOr<std::string> m = store_.Get(ManifestKey(day));
  if (!m.ok()) return m.status();
  const json j = json::parse(*m, nullptr, false);
  if (!j.is_object() || !j.contains("lines") || !j["lines"].is_number_integer()) {
    return absl::DataLossError(absl::StrCat(ManifestKey(day), ": not a manifest"));
  }
  return j["lines"].get<int64_t>();
}

absl::StatusOr<std::vector<Day>> ColdLogArchive::Days() {
  absl::StatusOr<std::vector<std::string>> keys = store_.List(prefix_);
  if (!keys.ok()) return keys.status();
  std::vector<Day> days;
  for (const std::string& key : *keys) {
    // Archived means its manifest is there (written last).
    if (!key.ends_with(".json")) continue;
    const std::string name = key.substr(prefix_.size(), key.size() - prefix_.size() - 5);
    if (auto day = ParseDayName(name)) days.push_back(*day);
  }
  std::sort(days.begin(), days.end());
  return days;
}

absl::Status ColdLogArchive::Delete(Day day) {
  // The manifest first: a day half deleted is not listed.
  if (absl::Status s = store_.Delete(ManifestKey(day)); !s.ok()) return s;
  return store_.Delete(DataKey(day));
}

}  // namespace hut::logs
