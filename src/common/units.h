#ifndef HUT_COMMON_UNITS_H_
#define HUT_COMMON_UNITS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/common/clock.h"

namespace hut {

// Parses a duration such as "500ms", "2m", "1h30m", "30d", "1y".
// Units: ms, s, m, h, d (24 h), w (7 d), y (365 d). Each number is a
// non-negative integer; at least one number+unit pair is required.
// Errors say what was wrong, e.g. `unknown unit "x" in "5x"`.
absl::StatusOr<Duration> ParseDuration(std::string_view text);

// Formats a duration in the largest exact units, e.g. 90s -> "1m30s",
// 0 -> "0s", 1500ms -> "1s500ms". ParseDuration(FormatDuration(d)) == d.
std::string FormatDuration(Duration d);

// Parses a percentage such as "5%", "0.5%", "100%" into a fraction (0.05).
// The "%" sign is required; the value must lie in [0, 100].
absl::StatusOr<double> ParsePercent(std::string_view text);

// Formats a fraction as a percentage with up to two decimals: 0.05 -> "5%".
std::string FormatPercent(double fraction);

}  // namespace hut

#endif  // HUT_COMMON_UNITS_H_
