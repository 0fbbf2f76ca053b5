#ifndef HUT_METRICS_PROMETHEUS_TEXT_H_
#define HUT_METRICS_PROMETHEUS_TEXT_H_

// Reads the Prometheus text exposition format (version 0.0.4), what a
// replica's /metrics answers, so that hut can take the replicas' own latency
// histograms into its canary analysis without a Prometheus server.
// https://prometheus.io/docs/instrumenting/exposition_formats/

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hut::metrics {

// One sample line: `name{label="value",...} value [timestamp]`.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  bool operator==(const Sample&) const = default;
};

// Every sample of `text`; # HELP / # TYPE / comments and blank lines are
// skipped. An unparsable line is an InvalidArgument naming its line number.
absl::StatusOr<std::vector<Sample>> ParseText(std::string_view text);

// A cumulative histogram: `le` upper bounds (ascending, +Inf last) with
// cumulative counts, as in <name>_bucket, plus <name>_sum and <name>_count.
struct Histogram {
  std::vector<double> upper_bounds;
  std::vector<double> cumulative_counts;
  double sum = 0;
  double count = 0;
  bool operator==(const Histogram&) const = default;
};

// Which series of a family to take: those whose labels include every pair of
// `match` and none of the values listed in `exclude` (label -> values), e.g.
// exclude {"route": {"/healthz", "/readyz"}} leaves out probes.
struct SeriesFilter {
  std::map<std::string, std::string> match;
  std::map<std::string, std::vector<std::string>> exclude;
};

// The histogram family `name` (e.g. "http_request_duration_seconds") summed
// over the series `filter` selects: the series of one replica, added up across
// routes and methods. NotFound when no series is selected; InvalidArgument
// when the series disagree on buckets.
absl::StatusOr<Histogram> SumHistogram(const std::vector<Sample>& samples, std::string_view name,
                                       const SeriesFilter& filter = {});

}  // namespace hut::metrics

#endif  // HUT_METRICS_PROMETHEUS_TEXT_H_
