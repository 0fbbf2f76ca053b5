#include "src/metrics/prometheus_source.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/http/client.h"

namespace hut::metrics {
namespace {

using json = nlohmann::json;

std::string UrlEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// A PromQL string literal.
std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

uint64_t Count(const std::string& text) {
  double v = 0;
  if (!absl::SimpleAtod(text, &v) || !std::isfinite(v) || v < 0) return 0;
  return static_cast<uint64_t>(std::llround(v));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrometheusSource>> PrometheusSource::Create(
    PrometheusSourceOptions options) {
  std::unique_ptr<PrometheusSource> s(new PrometheusSource(options));
  std::string rest = options.url;
  if (!rest.starts_with("http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("Prometheus URL ", Quoted(options.url), " is not http://HOST:PORT"));
  }
  rest = rest.substr(7);
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  s->prefix_ = slash == std::string::npos ? "" : rest.substr(slash);
  while (!s->prefix_.empty() && s->prefix_.back() == '/') s->prefix_.pop_back();
  const size_t colon = authority.rfind(':');
  int port = 80;
  if (colon != std::string::npos) {
    if (!absl::SimpleAtoi(authority.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("Prometheus URL ", Quoted(options.url), ": bad port"));
    }
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("Prometheus URL ", Quoted(options.url),
                                                   " has no host"));
  }
  s->host_ = authority;
  s->port_ = static_cast<uint16_t>(port);
  return s;
}

std::string PrometheusSource::Selector() const {
  std::string selector = absl::StrCat(
      "namespace=", Quoted(options_.namespace_), ",service=", Quoted(options_.service),
      ",revision=~", Quoted(absl::StrCat(options_.canary_revision, "|", options_.baseline_revision)));
  if (!options_.queries.exclude_routes.empty()) {
    absl::StrAppend(&selector, ",route!~", Quoted(options_.queries.exclude_routes));
  }
  return selector;
}

std::string PrometheusSource::RequestsQuery() const {
  return absl::StrCat("sum by (pod, revision) (", options_.queries.requests, "{", Selector(), "})");
}
std::string PrometheusSource::ErrorsQuery() const {
  return absl::StrCat("sum by (pod, revision) (", options_.queries.requests, "{", Selector(),
                      ",code=~", Quoted(options_.queries.error_codes), "})");
}
std::string PrometheusSource::LatencyQuery() const {
  return absl::StrCat("sum by (pod, revision, le) (", options_.queries.latency, "{", Selector(),
                      "})");
}

namespace {

struct Row {
  std::string pod;
  int revision = 0;
  std::string le;
  std::string value;
};

absl::StatusOr<std::vector<Row>> Query(const std::string& host, uint16_t port,
                                       const std::string& prefix, const std::string& promql,
                                       std::chrono::milliseconds timeout) {
  http::ClientRequest req;
  req.host = host;
  req.port = port;
  req.target = absl::StrCat(prefix, "/api/v1/query?query=", UrlEscape(promql));
  req.timeout = timeout;
  absl::StatusOr<http::ClientResponse> r = http::Fetch(req);
  if (!r.ok()) {
    return absl::UnavailableError(
        absl::StrCat("Prometheus at ", host, ":", port, ": ", r.status().message()));
  }
  json body = json::parse(r->body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return absl::UnavailableError(absl::StrCat("Prometheus at ", host, ":", port, " answered ",
                                               r->status, " without JSON"));
  }
  if (r->status != 200 || body.value("status", "") != "success") {
    return absl::UnavailableError(absl::StrCat("Prometheus at ", host, ":", port, ": ",
                                               body.value("errorType", "error"), ": ",
                                               body.value("error", std::to_string(r->status))));
  }
  std::vector<Row> rows;
  const json& result = body["data"]["result"];
  if (!result.is_array()) return rows;
  for (const json& item : result) {
    const json& m = item.value("metric", json::object());
    const json& v = item.value("value", json::array());
    if (!v.is_array() || v.size() != 2 || !v[1].is_string()) continue;
    Row row;
    row.pod = m.value("pod", "");
    (void)absl::SimpleAtoi(m.value("revision", ""), &row.revision);
    row.le = m.value("le", "");
    row.value = v[1].get<std::string>();
    if (!row.pod.empty()) rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

absl::StatusOr<analysis::Observation> PrometheusSource::Scrape(TimePoint now) {
  absl::StatusOr<std::vector<Row>> requests =
      Query(host_, port_, prefix_, RequestsQuery(), options_.timeout);
  if (!requests.ok()) return requests.status();
  absl::StatusOr<std::vector<Row>> errors =
      Query(host_, port_, prefix_, ErrorsQuery(), options_.timeout);
  if (!errors.ok()) return errors.status();
  absl::StatusOr<std::vector<Row>> buckets =
      Query(host_, port_, prefix_, LatencyQuery(), options_.timeout);
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
