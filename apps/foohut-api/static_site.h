#ifndef HUT_APPS_FOOHUT_API_STATIC_SITE_H_
#define HUT_APPS_FOOHUT_API_STATIC_SITE_H_

// `foohut-api serve --static DIR`: Foohut's web front end, the files of one
// folder, with the same operational endpoints as the pages API.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apps/foohut-api/faults.h"
#include "apps/foohut-api/metrics.h"
#include "apps/foohut-api/request_envelope.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/http/message.h"
#include "src/tracing/tracing.h"
#include "src/http/router.h"

namespace hut::foohut {

struct StaticSiteOptions {
  std::string root;                              // the folder served
  int64_t max_file_bytes = 64 << 20;             // a bigger file is answered 500
  std::chrono::seconds asset_max_age{31536000};  // Cache-Control of assets (not HTML)
};

// Serves the regular files under `root`, read from disk on every request (so
// nothing is cached in memory; ETag is size + modification time, identical on
// replicas serving the same release). Never lists folders and never serves
// anything outside `root`: requests with "..", "." or empty segments,
// backslashes or NULs are refused (400), dotfiles and symlinks resolving
// outside `root` are absent (404). Safe for concurrent use.
class StaticSite {
 public:
  explicit StaticSite(StaticSiteOptions options);

  // GET or HEAD of a file: 200 with Content-Type, ETag and Cache-Control
  // (`no-cache` for HTML and config.json, which change between releases under
  // the same name; a long max-age otherwise), 304 when If-None-Match matches,
  // 404 JSON error for anything but a readable regular file, 405 for other
  // methods. "/" and paths ending in "/" mean that folder's index.html.
  http::Response Serve(const http::Request& request) const;

  // OK when `root` is a readable folder holding a readable regular index.html;
  // else FailedPrecondition saying what is wrong.
  absl::Status Check() const;

  const StaticSiteOptions& options() const { return options_; }

 private:
  StaticSiteOptions options_;
};

// The static mode's application: GET /healthz, /readyz and /metrics as in the
// pages API, every other path a file of `site`, all in a RequestEnvelope.
// Static files count as users' traffic: FOOHUT_FAULTS errors and latency
// apply to them; `unready` makes /readyz answer 503. Dependencies are borrowed
// and must outlive it. Handle() is safe for concurrent use.
class StaticApp {
 public:
  struct Deps {
    const StaticSite& site;
    Metrics& metrics;
    const Clock& clock;
    Logger logger;
    Faults faults;
    tracing::Exporter* tracer = nullptr;  // null: no spans
  };
  explicit StaticApp(Deps deps);

  http::Response Handle(const http::Request& request);

 private:
  http::Response Readyz(const http::Request& request) const;

  Deps deps_;
  http::Router router_;
  RequestEnvelope envelope_;
};

// Pure helpers, exposed for tests.

// The file a decoded request path names, relative to the root: "/" ->
// "index.html", "/css/a.css" -> "css/a.css", "/docs/" -> "docs/index.html".
// InvalidArgument for "..", "." or empty segments, backslashes, NULs or a path
// not starting with "/"; NotFound for a segment starting with "." (dotfiles).
absl::StatusOr<std::string> FileOfPath(std::string_view path);
// "text/css; charset=utf-8" for "a/b.CSS"; application/octet-stream if unknown.
std::string_view ContentTypeFor(std::string_view file);
// Whether an If-None-Match header value (a list of entity tags, or "*")
// matches `etag`, comparing weakly as RFC 9110 asks for GET.
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_STATIC_SITE_H_
