#include "apps/foohut-api/request_envelope.h"

#include <cmath>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "src/http/trace_context.h"

namespace hut::foohut {
namespace {

std::string_view MethodLabel(std::string_view method) {
  for (std::string_view m : {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}) {
    if (method == m) return m;
  }
  return "other";
}

void ReplaceHeader(http::Headers& headers, const std::string& name, std::string value) {
  headers.erase(name);
  headers.emplace(name, std::move(value));
}

double SecondsBetween(TimePoint a, TimePoint b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

RequestEnvelope::RequestEnvelope(Deps deps)
    : deps_(std::move(deps)), rng_(std::random_device{}()) {}

bool RequestEnvelope::DrawInjectedError() {
  absl::MutexLock lock(&rng_mu_);
  return ShouldInjectError(deps_.faults.errors,
                           std::uniform_real_distribution<double>(0.0, 1.0)(rng_));
}

http::Response RequestEnvelope::Handle(const http::Request& incoming,
                                       const RequestClass& request_class,
                                       const http::Handler& handler) {
  const TimePoint start = deps_.clock.Now();
  deps_.metrics.RequestStarted();
  http::TraceContext trace = http::TraceContextFor(incoming.Header("traceparent"));
  // A trace that starts here is sampled; one from a caller keeps its choice.
  if (trace.parent_id.empty()) trace.flags |= 1;
  const std::string request_id = http::RequestIdFor(incoming.Header("X-Request-ID"));
  const std::string traceparent = trace.ToTraceparent();

  // Handlers only see the request, so the resolved ids travel in its headers.
  http::Request request = incoming;
  ReplaceHeader(request.headers, "traceparent", traceparent);
  ReplaceHeader(request.headers, "X-Request-ID", request_id);
  const Logger log = deps_.logger.With({{"trace_id", trace.trace_id}, {"request_id", request_id}});

  tracing::ScopedSpan span((trace.flags & 1) ? deps_.tracer : nullptr, deps_.clock,
                           absl::StrCat(request.method, " ",
                                        request_class.route.empty() ? "unmatched" : request_class.route),
                           tracing::SpanKind::kServer, trace.trace_id, trace.span_id, trace.parent_id);
  http::Response response;
  const bool faulty = request_class.user_facing;
  if (faulty && deps_.faults.latency.count() > 0) {
    std::this_thread::sleep_for(deps_.faults.latency);
  }
  if (faulty && deps_.faults.errors > 0 && DrawInjectedError()) {
    response = http::Response::Error(500, "injected fault (FOOHUT_FAULTS errors)");
  } else {
    try {
      response = handler(request);
    } catch (const std::exception& e) {
      log.Error("handler threw", {{"error", e.what()}});
      response = http::Response::Error(500, "internal error");
    }
  }
  response.SetHeader("traceparent", traceparent);
  response.SetHeader("X-Request-ID", request_id);
  // Which release answered: lets load tests count versions during a rollout.
  response.SetHeader("X-Foohut-Version", deps_.metrics.version());

  const TimePoint end = deps_.clock.Now();
  const double seconds = SecondsBetween(start, end);
  deps_.metrics.ObserveRequest(request_class.route, MethodLabel(request.method), response.status,
                               seconds);
  deps_.metrics.RequestFinished();
  if (span.active()) {
    span.SetAttribute("http.request.method", request.method);
    span.SetAttribute("http.route", request_class.route);
    span.SetAttribute("url.path", request.path);
    span.SetAttribute("http.response.status_code", response.status);
    span.SetAttribute("http.request.id", request_id);
    if (response.status >= 500) span.SetError(absl::StrCat("HTTP ", response.status));
  }
  // Probes and scrapes come every few seconds: their successes only at DEBUG.
  const bool probe = !request_class.user_facing && response.status < 400;
  const LogLevel level = response.status >= 500 ? LogLevel::kWarn
                         : probe                ? LogLevel::kDebug
                                                : LogLevel::kInfo;
  log.Log(level, "request",
          {{"method", request.method},
           {"path", request.path},
           {"route", request_class.route},
           {"status", response.status},
           {"duration_ms", std::round(seconds * 1e5) / 100},
           {"remote", request.remote_address}});
  return response;
}

Logger RequestLogger(const Logger& base, const http::Request& request) {
  std::optional<http::TraceContext> trace =
      http::ParseTraceparent(request.Header("traceparent").value_or(""));
  return base.With({{"trace_id", trace ? trace->trace_id : ""},
                    {"request_id", request.Header("X-Request-ID").value_or("")}});
}

}  // namespace hut::foohut
