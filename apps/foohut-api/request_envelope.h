#ifndef HUT_APPS_FOOHUT_API_REQUEST_ENVELOPE_H_
#define HUT_APPS_FOOHUT_API_REQUEST_ENVELOPE_H_

#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "apps/foohut-api/faults.h"
#include "apps/foohut-api/metrics.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/http/message.h"
#include "src/http/server.h"
#include "src/tracing/tracing.h"

namespace hut::foohut {

// How the envelope treats one request; decided by the application.
struct RequestClass {
  std::string route;  // bounded metrics label: a router pattern, "static"; "" is "unmatched"
  // Users' traffic (/api/ routes, static files): FOOHUT_FAULTS errors and
  // latency apply, and successes are logged at INFO. Otherwise (probes,
  // scrapes) successes are logged at DEBUG and faults never apply.
  bool user_facing = false;
};

// What every foohut-api request goes through, whichever mode serves it: trace
// context, injected faults, metrics and one access log line. Dependencies are
// borrowed and must outlive it. Handle() is safe for concurrent use.
class RequestEnvelope {
 public:
  struct Deps {
    Metrics& metrics;
    const Clock& clock;
    Logger logger;
    Faults faults;
    // Where each request's span goes (a child of the caller's when its
    // traceparent is sampled); null: no spans.
    tracing::Exporter* tracer = nullptr;
  };
  explicit RequestEnvelope(Deps deps);

  // Answers `incoming` with `handler`; never throws. The handler sees the
  // request with validated traceparent and X-Request-ID headers (fresh ones
  // when absent or invalid); the response carries both, and X-Foohut-Version
  // (the version serving). A handler exception
  // is answered 500 and logged.
  http::Response Handle(const http::Request& incoming, const RequestClass& request_class,
                        const http::Handler& handler);

 private:
  bool DrawInjectedError();

  Deps deps_;
  absl::Mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);
};

// `base` bound to the trace and request ids of a request that went through
// RequestEnvelope::Handle, for the log lines its handler writes.
Logger RequestLogger(const Logger& base, const http::Request& request);

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_REQUEST_ENVELOPE_H_
