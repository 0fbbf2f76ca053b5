#include "src/metrics/service_traffic.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/status.h"

namespace hut::metrics {
namespace {

// The one value of `series` for the service; nullopt when there is none or
// it is not a finite number (a ratio of no requests is NaN).
absl::StatusOr<std::optional<double>> One(const PrometheusClient& client,
                                          const std::string& series, const std::string& selector) {
  HUT_ASSIGN_OR_RETURN(std::vector<QuerySample> samples,
                       client.Query(absl::StrCat(series, "{", selector, "}")));
  if (samples.empty()) return std::nullopt;
  double v = 0;
  if (!absl::SimpleAtod(samples.front().value, &v) || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

absl::StatusOr<std::optional<ServiceTraffic>> ReadServiceTraffic(const PrometheusClient& client,
                                                                 const std::string& environment,
                                                                 const std::string& service) {
  const std::string selector =
      absl::StrCat("environment=", PromQuoted(environment), ",service=", PromQuoted(service));
  HUT_ASSIGN_OR_RETURN(std::optional<double> rate,
                       One(client, "service:http_requests:rate1m", selector));
  if (!rate) return std::nullopt;
  HUT_ASSIGN_OR_RETURN(std::optional<double> errors,
                       One(client, "service:http_error_ratio:rate1m", selector));
  HUT_ASSIGN_OR_RETURN(std::optional<double> p99,
                       One(client, "service:http_request_duration_seconds:p99_1m", selector));
  ServiceTraffic t;
  t.requests_per_second = *rate;
  t.error_ratio = errors.value_or(0);
  t.p99_seconds = p99;
  return t;
}

}  // namespace hut::metrics
