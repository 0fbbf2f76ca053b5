#include "src/analysis/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"

namespace hut::analysis {

double HistogramQuantile(double q, std::span<const double> upper_bounds,
                         std::span<const uint64_t> cumulative_counts) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  const size_t n = std::min(upper_bounds.size(), cumulative_counts.size());
  if (n < 2 || !(std::isinf(upper_bounds[n - 1]) && upper_bounds[n - 1] > 0)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  // ensureMonotonic: the total is the largest count seen.
  uint64_t observations = 0;
  for (size_t i = 0; i < n; ++i) observations = std::max(observations, cumulative_counts[i]);
  if (observations == 0) return std::numeric_limits<double>::quiet_NaN();

  double rank = q * static_cast<double>(observations);
  // The first bucket among all but +Inf whose (monotonic) count reaches rank.
  size_t b = n - 1;
  uint64_t running = 0;
  uint64_t below = 0;  // monotonic count of bucket b-1
  for (size_t i = 0; i + 1 < n; ++i) {
    uint64_t c = std::max(running, cumulative_counts[i]);
    if (static_cast<double>(c) >= rank) {
      b = i;
      below = running;
      running = c;
      break;
    }
    running = c;
  }
  if (b == n - 1) return upper_bounds[n - 2];
  if (b == 0 && upper_bounds[0] <= 0) return upper_bounds[0];

  double bucket_start = 0;
  double bucket_end = upper_bounds[b];
  double count = static_cast<double>(running);
  if (b > 0) {
    bucket_start = upper_bounds[b - 1];
    count -= static_cast<double>(below);
    rank -= static_cast<double>(below);
  }
  return bucket_start + (bucket_end - bucket_start) * (rank / count);
}

absl::Status ValidateHistogram(const LatencyHistogram& h) {
  if (h.upper_bounds.empty() && h.cumulative_counts.empty()) return absl::OkStatus();
  if (h.upper_bounds.size() != h.cumulative_counts.size()) {
    return absl::InvalidArgumentError(absl::StrCat("histogram has ", h.upper_bounds.size(),
                                                   " bounds but ", h.cumulative_counts.size(),
                                                   " counts"));
  }
  const size_t n = h.upper_bounds.size();
  if (!(std::isinf(h.upper_bounds[n - 1]) && h.upper_bounds[n - 1] > 0)) {
    return absl::InvalidArgumentError("histogram's last bound is not +Inf");
  }
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(h.upper_bounds[i])) {
      return absl::InvalidArgumentError("histogram bound is NaN");
    }
    if (i > 0 && !(h.upper_bounds[i] > h.upper_bounds[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram bounds not strictly ascending at ", h.upper_bounds[i]));
    }
    if (i > 0 && h.cumulative_counts[i] < h.cumulative_counts[i - 1]) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram counts decrease at bound ", h.upper_bounds[i]));
    }
  }
  return absl::OkStatus();
}

}  // namespace hut::analysis
