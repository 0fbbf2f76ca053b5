#include "apps/foohut-api/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "apps/foohut-api/process_metrics.h"

namespace hut::foohut {

Metrics::Metrics(std::string_view version, std::string_view env)
    : version_(version),
      registry_(std::make_shared<prometheus::Registry>()),
      // Up to 10 s, with resolution around the 2 s P99 rollback threshold.
      duration_buckets_{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10} {
  requests_ = &prometheus::BuildCounter()
                   .Name("http_requests_total")
                   .Help("HTTP requests answered, by route pattern, method and status code.")
                   .Register(*registry_);
  durations_ = &prometheus::BuildHistogram()
                    .Name("http_request_duration_seconds")
                    .Help("Time to answer HTTP requests, by route pattern and method.")
                    .Register(*registry_);
  in_flight_ = &prometheus::BuildGauge()
                    .Name("http_requests_in_flight")
                    .Help("HTTP requests being handled now.")
                    .Register(*registry_)
                    .Add({});
  prometheus::BuildGauge()
      .Name("foohut_build_info")
      .Help("Always 1; labels say which build runs.")
      .Register(*registry_)
      .Add({{"version", std::string(version)}, {"env", std::string(env)}})
      .Set(1);
  signups_ = &prometheus::BuildCounter()
                  .Name("foohut_signups_total")
                  .Help("Accounts created.")
                  .Register(*registry_)
                  .Add({});
  logins_ = &prometheus::BuildCounter()
                 .Name("foohut_logins_total")
                 .Help("Login attempts, by result (success, failure).")
                 .Register(*registry_);
  pages_created_ = &prometheus::BuildCounter()
                        .Name("foohut_pages_created_total")
                        .Help("Pages created.")
                        .Register(*registry_)
                        .Add({});
  conversions_ = &prometheus::BuildCounter()
                      .Name("foohut_conversions_total")
                      .Help("Accounts that created their first page (signup to first page).")
                      .Register(*registry_)
                      .Add({});
  cache_ = &prometheus::BuildCounter()
                .Name("foohut_cache_lookups_total")
                .Help("Page cache lookups, by result (hit, miss, error).")
                .Register(*registry_);
  // Zero series exist from the start, so rates are defined before the first event.
  logins_->Add({{"result", "success"}});
  logins_->Add({{"result", "failure"}});
  for (const char* r : {"hit", "miss", "error"}) cache_->Add({{"result", r}});
}

Metrics::~Metrics() = default;

void Metrics::ObserveRequest(std::string_view route, std::string_view method, int code,
                             double seconds) {
  if (!recording_) return;
  const std::string r = route.empty() ? "unmatched" : std::string(route);
  requests_->Add({{"route", r}, {"method", std::string(method)}, {"code", std::to_string(code)}})
      .Increment();
  durations_->Add({{"route", r}, {"method", std::string(method)}}, duration_buckets_)
      .Observe(seconds);
}

void Metrics::RequestStarted() {
  if (recording_) in_flight_->Increment();
}

void Metrics::RequestFinished() {
  if (recording_) in_flight_->Decrement();
}

void Metrics::Signup() {
  if (recording_) signups_->Increment();
}

void Metrics::Login(bool success) {
  if (!recording_) return;
  logins_->Add({{"result", success ? "success" : "failure"}}).Increment();
}

void Metrics::PageCreated(bool owners_first) {
  if (!recording_) return;
  pages_created_->Increment();
  if (owners_first) conversions_->Increment();
}

void Metrics::CacheLookup(std::string_view result) {
  if (!recording_) return;
  cache_->Add({{"result", std::string(result)}}).Increment();
}

std::string Metrics::Serialize() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& f : ProcessMetricFamilies()) families.push_back(std::move(f));
  if (spans_) {
    prometheus::MetricFamily f;
    f.name = "foohut_trace_spans_total";
    f.help = "Spans of this process by what the exporter did with them";
    f.type = prometheus::MetricType::Counter;
    for (const auto& [result, n] : spans_()) {
      prometheus::ClientMetric m;
      m.label = {{"result", result}};
      m.counter.value = static_cast<double>(n);
      f.metric.push_back(std::move(m));
    }
    families.push_back(std::move(f));
  }
  if (jwt_keys_) {
    prometheus::MetricFamily f;
    f.name = "foohut_jwt_keys";
    f.help = "JWT key ids this process verifies with; active=true signs";
    f.type = prometheus::MetricType::Gauge;
    const JwtKeyIds ids = jwt_keys_();
    for (const std::string& kid : ids.kids) {
      prometheus::ClientMetric m;
      m.label = {{"kid", kid}, {"active", kid == ids.active ? "true" : "false"}};
      m.gauge.value = 1;
      f.metric.push_back(std::move(m));
    }
    families.push_back(std::move(f));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace hut::foohut
