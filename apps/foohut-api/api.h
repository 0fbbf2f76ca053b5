#ifndef HUT_APPS_FOOHUT_API_API_H_
#define HUT_APPS_FOOHUT_API_API_H_

#include <chrono>
#include <mutex>
#include <random>

#include "absl/base/thread_annotations.h"
#include "apps/foohut-api/cache.h"
#include "apps/foohut-api/faults.h"
#include "apps/foohut-api/jwt.h"
#include "apps/foohut-api/metrics.h"
#include "apps/foohut-api/password.h"
#include "apps/foohut-api/store.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/http/message.h"
#include "src/http/router.h"

namespace hut::foohut {

struct ApiOptions {
  std::chrono::seconds page_cache_ttl{300};
  int search_limit = 20;
  size_t max_password_bytes = 1024;
  size_t max_title_bytes = 300;
  size_t max_body_bytes = 256 * 1024;
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

  // The logger of the request being handled: bound to its trace and request ids.
  Logger RequestLogger(const http::Request& r) const;
  // A 5xx for a store failure, logged.
  http::Response StoreFailure(const http::Request& r, const absl::Status& status);
  bool DrawInjectedError();

  Deps deps_;
  ApiOptions options_;
  http::Router router_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);
};

// Pure helpers, exposed for tests.
bool LooksLikeEmail(std::string_view email);
// "123" -> 123; nullopt for anything but a positive decimal int64.
std::optional<int64_t> ParseId(std::string_view text);
nlohmann::json PageJson(const Page& page);

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_API_H_
