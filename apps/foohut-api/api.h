#ifndef HUT_APPS_FOOHUT_API_API_H_
#define HUT_APPS_FOOHUT_API_API_H_

#include <chrono>

#include "apps/foohut-api/cache.h"
#include "apps/foohut-api/faults.h"
#include "apps/foohut-api/jwt.h"
#include "apps/foohut-api/metrics.h"
#include "apps/foohut-api/password.h"
#include "apps/foohut-api/request_envelope.h"
#include "apps/foohut-api/store.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/http/message.h"
#include "src/tracing/tracing.h"
#include "src/http/router.h"

namespace hut::foohut {

struct ApiOptions {
  std::chrono::seconds page_cache_ttl{300};
  int search_limit = 20;
  size_t max_password_bytes = 1024;
  size_t max_title_bytes = 300;
  size_t max_body_bytes = 256 * 1024;
  // The one origin ("http://127.0.0.1:8081") or "*" whose pages may call
  // /api/ from a browser (CORS); empty: none (same-origin only).
  std::string cors_origin;
};

// The foohut-api HTTP application: routes, validation, auth, caching, faults,
// metrics, and per-request trace context and logging. Every dependency is
// borrowed and must outlive it. Handle() is safe for concurrent use.
class Api {
 public:
  struct Deps {
    Store& store;
    Cache& cache;
    const JwtCodec& jwt;
    PasswordHasher& passwords;
    Metrics& metrics;
    const Clock& clock;
    Logger logger;
    Faults faults;
    tracing::Exporter* tracer = nullptr;  // null: no spans
  };
  explicit Api(Deps deps, ApiOptions options = {});

  // Answers one request; never throws. Adds traceparent and X-Request-ID to
  // the response, counts it in the metrics and writes one access log line.
  http::Response Handle(const http::Request& request);

 private:
  http::Response Healthz(const http::Request& r);
  http::Response Readyz(const http::Request& r);
  http::Response MetricsPage(const http::Request& r);
  http::Response Signup(const http::Request& r);
  http::Response Login(const http::Request& r);
  http::Response CreatePage(const http::Request& r);
  http::Response GetPage(const http::Request& r);
  http::Response SearchPages(const http::Request& r);

  // CORS: a preflight answer for an allowed origin, or nullopt.
  std::optional<http::Response> Preflight(const http::Request& r) const;
  // Adds the CORS headers to an /api/ answer for an allowed origin.
  void AllowOrigin(const http::Request& r, http::Response& response) const;
  bool OriginAllowed(const http::Request& r) const;

  // The logger of the request being handled: bound to its trace and request ids.
  Logger RequestLogger(const http::Request& r) const;
  // A 5xx for a store failure, logged.
  http::Response StoreFailure(const http::Request& r, const absl::Status& status);

  Deps deps_;
  ApiOptions options_;
  const TimePoint started_at_;  // the ready_after fault counts from here
  http::Router router_;
  RequestEnvelope envelope_;
};

// Pure helpers, exposed for tests.
bool LooksLikeEmail(std::string_view email);
// "123" -> 123; nullopt for anything but a positive decimal int64.
std::optional<int64_t> ParseId(std::string_view text);
nlohmann::json PageJson(const Page& page);

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_API_H_
