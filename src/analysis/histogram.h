#ifndef HUT_ANALYSIS_HISTOGRAM_H_
#define HUT_ANALYSIS_HISTOGRAM_H_

// Quantiles and checks of Prometheus-style cumulative histograms.

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "src/analysis/metrics_source.h"

namespace hut::analysis {

// The q-quantile of a classic cumulative histogram, computed exactly as
// Prometheus' histogram_quantile(q, ...) computes it
// (https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile):
//  - q < 0 gives -Inf, q > 1 gives +Inf, q NaN gives NaN;
//  - NaN when the last bound is not +Inf, when there are fewer than two
//    buckets, or when the histogram holds no observation;
//  - counts that decrease are raised to the largest count before them
//    (Prometheus' ensureMonotonic);
//  - rank = q * total; the quantile lies in the first bucket whose cumulative
//    count is >= rank and is interpolated linearly inside it, the first
//    bucket's lower bound being 0 (or, when its upper bound is <= 0, that
//    upper bound is returned);
//  - a quantile that falls in the +Inf bucket is the highest finite bound.
// `upper_bounds` must be ascending without repeats (Prometheus sums
// repeated bounds first; ValidateHistogram rejects them); both spans have the
// same length.
double HistogramQuantile(double q, std::span<const double> upper_bounds,
                         std::span<const uint64_t> cumulative_counts);
inline double HistogramQuantile(double q, const LatencyHistogram& h) {
  return HistogramQuantile(q, h.upper_bounds, h.cumulative_counts);
}

// OK when `h` is empty or well formed (see LatencyHistogram): equal lengths,
// bounds strictly ascending with the last one +Inf, counts non-decreasing.
// InvalidArgument saying what is wrong otherwise.
absl::Status ValidateHistogram(const LatencyHistogram& h);

}  // namespace hut::analysis

#endif  // HUT_ANALYSIS_HISTOGRAM_H_
