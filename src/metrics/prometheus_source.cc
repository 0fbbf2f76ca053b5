#include "src/metrics/prometheus_source.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/status.h"

namespace hut::metrics {
namespace {

uint64_t Count(const std::string& text) {
  double v = 0;
  if (!absl::SimpleAtod(text, &v) || !std::isfinite(v) || v < 0) return 0;
  return static_cast<uint64_t>(std::llround(v));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrometheusSource>> PrometheusSource::Create(
    PrometheusSourceOptions options) {
  HUT_ASSIGN_OR_RETURN(PrometheusClient client,
                       PrometheusClient::Create(options.url, options.timeout));
  return std::unique_ptr<PrometheusSource>(
      new PrometheusSource(std::move(options), std::move(client)));
}

std::string PrometheusSource::Selector() const {
  std::string selector =
      absl::StrCat("namespace=", PromQuoted(options_.namespace_),
                   ",service=", PromQuoted(options_.service), ",revision=~",
                   PromQuoted(absl::StrCat(options_.canary_revision, "|",
                                           options_.baseline_revision)));
  if (!options_.queries.exclude_routes.empty()) {
    absl::StrAppend(&selector, ",route!~", PromQuoted(options_.queries.exclude_routes));
  }
  return selector;
}

std::string PrometheusSource::RequestsQuery() const {
  return absl::StrCat("sum by (pod, revision) (", options_.queries.requests, "{", Selector(), "})");
}
std::string PrometheusSource::ErrorsQuery() const {
  return absl::StrCat("sum by (pod, revision) (", options_.queries.requests, "{", Selector(),
                      ",code=~", PromQuoted(options_.queries.error_codes), "})");
}
std::string PrometheusSource::LatencyQuery() const {
  return absl::StrCat("sum by (pod, revision, le) (", options_.queries.latency, "{", Selector(),
                      "})");
}

namespace {

// A sample of the per-pod queries.
struct Row {
  std::string pod;
  int revision = 0;
  std::string le;
  std::string value;
};

absl::StatusOr<std::vector<Row>> Rows(const PrometheusClient& client, const std::string& promql) {
  HUT_ASSIGN_OR_RETURN(std::vector<QuerySample> samples, client.Query(promql));
  std::vector<Row> rows;
  for (QuerySample& s : samples) {
    Row row;
    row.pod = s.labels["pod"];
    (void)absl::SimpleAtoi(s.labels["revision"], &row.revision);
    row.le = s.labels["le"];
    row.value = std::move(s.value);
    if (!row.pod.empty()) rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

absl::StatusOr<analysis::Observation> PrometheusSource::Scrape(TimePoint now) {
  absl::StatusOr<std::vector<Row>> requests = Rows(client_, RequestsQuery());
  if (!requests.ok()) return requests.status();
  absl::StatusOr<std::vector<Row>> errors = Rows(client_, ErrorsQuery());
  if (!errors.ok()) return errors.status();
  absl::StatusOr<std::vector<Row>> buckets = Rows(client_, LatencyQuery());
  if (!buckets.ok()) return buckets.status();

  analysis::Observation o;
  o.at = now;
  auto group = [&](int revision) -> analysis::MetricSample* {
    if (revision == options_.canary_revision) return &o.canary;
    if (revision == options_.baseline_revision) return &o.baseline;
    return nullptr;
  };
  for (const Row& r : *requests) {
    if (auto* g = group(r.revision)) g->series[r.pod].requests = Count(r.value);
  }
  for (const Row& r : *errors) {
    if (auto* g = group(r.revision)) g->series[r.pod].responses_5xx = Count(r.value);
  }
  // Buckets by pod, ordered by bound.
  std::map<std::pair<int, std::string>, std::vector<std::pair<double, uint64_t>>> histograms;
  for (const Row& r : *buckets) {
    double bound = 0;
    if (r.le == "+Inf") {
      bound = std::numeric_limits<double>::infinity();
    } else if (!absl::SimpleAtod(r.le, &bound)) {
      continue;
    }
    histograms[{r.revision, r.pod}].emplace_back(bound, Count(r.value));
  }
  for (auto& [key, points] : histograms) {
    analysis::MetricSample* g = group(key.first);
    if (g == nullptr || !g->series.contains(key.second)) continue;
    std::sort(points.begin(), points.end());
    if (points.empty() || !std::isinf(points.back().first)) continue;
    analysis::LatencyHistogram& h = g->series[key.second].latency;
    for (const auto& [bound, count] : points) {
      h.upper_bounds.push_back(bound);
      // Cumulative counts never decrease, even across a scrape that raced.
      h.cumulative_counts.push_back(
          std::max(count, h.cumulative_counts.empty() ? 0 : h.cumulative_counts.back()));
    }
  }
  for (auto& [pod, s] : o.canary.series) s.requests = std::max(s.requests, s.responses_5xx);
  for (auto& [pod, s] : o.baseline.series) s.requests = std::max(s.requests, s.responses_5xx);
  return o;
}

}  // namespace hut::metrics
