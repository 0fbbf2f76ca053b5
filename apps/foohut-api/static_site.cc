#include "apps/foohut-api/static_site.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "apps/foohut-api/strings.h"

namespace hut::foohut {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

constexpr std::string_view kStaticRoute = "static";

// realpath(3) as a value; nullopt with errno set when it fails.
std::optional<std::string> RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::StatusOr<std::string> ReadAll(int fd, int64_t size) {
  std::string out(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("read: ", std::strerror(errno)));
    if (n == 0) break;  // shrank meanwhile: serve what is there
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

bool IsNoCache(std::string_view file) {
  const std::string_view name = file.substr(file.rfind('/') + 1);  // npos + 1 == 0
  const std::string lower = absl::AsciiStrToLower(Absl(name));
  return lower == "config.json" || lower.ends_with(".html") || lower.ends_with(".htm");
}

}  // namespace

absl::StatusOr<std::string> FileOfPath(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError("path must start with /");
  }
  if (path.find('\0') != std::string_view::npos || path.find('\\') != std::string_view::npos) {
    return absl::InvalidArgumentError("path holds a NUL or a backslash");
  }
  std::string file(path.substr(1));
  if (file.empty() || file.back() == '/') file += "index.html";
  for (absl::string_view segment : absl::StrSplit(Absl(file), '/')) {
    if (segment.empty() || segment == "." || segment == "..") {
      return absl::InvalidArgumentError("path holds an empty, \".\" or \"..\" segment");
    }
    if (segment.front() == '.') return absl::NotFoundError("dotfiles are not served");
  }
  return file;
}

std::string_view ContentTypeFor(std::string_view file) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"webmanifest", "application/manifest+json"},
      {"txt", "text/plain; charset=utf-8"},
      {"xml", "application/xml"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"avif", "image/avif"},
      {"ico", "image/x-icon"},
      {"woff2", "font/woff2"},
      {"woff", "font/woff"},
      {"ttf", "font/ttf"},
      {"wasm", "application/wasm"},
      {"pdf", "application/pdf"},
  };
  const size_t slash = file.rfind('/');
  const size_t dot = file.rfind('.');
  if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) {
    const std::string ext = absl::AsciiStrToLower(Absl(file.substr(dot + 1)));
    for (const auto& [e, type] : kTypes) {
      if (ext == e) return type;
    }
  }
  return "application/octet-stream";
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  auto opaque = [](absl::string_view tag) {
    tag = absl::StripAsciiWhitespace(tag);
    if (tag.size() >= 2 && tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    return tag;
  };
  if (absl::StripAsciiWhitespace(Absl(if_none_match)) == "*") return true;
  const absl::string_view wanted = opaque(Absl(etag));
  for (absl::string_view tag : absl::StrSplit(Absl(if_none_match), ',')) {
    if (!wanted.empty() && opaque(tag) == wanted) return true;
  }
  return false;
}

StaticSite::StaticSite(StaticSiteOptions options) : options_(std::move(options)) {}

absl::Status StaticSite::Check() const {
  struct stat st;
  if (::stat(options_.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      ::access(options_.root.c_str(), R_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options_.root, " is not a readable folder"));
  }
  const std::string index = options_.root + "/index.html";
  if (::stat(index.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      ::access(index.c_str(), R_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options_.root, " holds no readable index.html"));
  }
  return absl::OkStatus();
}

Response StaticSite::Serve(const Request& request) const {
  if (request.method != "GET" && request.method != "HEAD") {
    return Response::Error(405, "only GET and HEAD are allowed").SetHeader("Allow", "GET, HEAD");
  }
  absl::StatusOr<std::string> file = FileOfPath(request.path);
  if (file.status().code() == absl::StatusCode::kInvalidArgument) {
    return Response::Error(400, Msg(file.status()));
  }
  const Response not_found = Response::Error(404, "no such file");
  if (!file.ok()) return not_found;

  // Resolve symlinks, then insist on staying below the (resolved) root.
  // Release folders are immutable, so the window between realpath() and open()
  // is not a concern; O_NOFOLLOW closes the last component anyway.
  std::optional<std::string> root = RealPath(options_.root);
  if (!root) return not_found;
  std::optional<std::string> resolved = RealPath(absl::StrCat(*root, "/", *file));
  if (!resolved || !resolved->starts_with(*root + "/")) return not_found;
  Fd fd(::open(resolved->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  struct stat st;
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return not_found;
  if (st.st_size > options_.max_file_bytes) {
    return Response::Error(500, "file too large to serve");
  }

  const std::string etag = absl::StrFormat("\"%x-%x.%x\"", st.st_size, st.st_mtim.tv_sec,
                                           st.st_mtim.tv_nsec);
  const std::string cache_control =
      IsNoCache(*file) ? "no-cache"
                       : absl::StrCat("public, max-age=", options_.asset_max_age.count());
  if (std::optional<std::string> inm = request.Header("If-None-Match");
      inm && EtagMatches(*inm, etag)) {
    Response r;
    r.status = 304;
    return r.SetHeader("ETag", etag).SetHeader("Cache-Control", cache_control);
  }
  absl::StatusOr<std::string> body = ReadAll(fd.get(), st.st_size);
  if (!body.ok()) return Response::Error(500, "cannot read the file");
  return Response::Text(200, *std::move(body), ContentTypeFor(*file))
      .SetHeader("ETag", etag)
      .SetHeader("Cache-Control", cache_control)
      .SetHeader("X-Content-Type-Options", "nosniff");
}

StaticApp::StaticApp(Deps deps)
    : deps_(std::move(deps)),
      envelope_({.metrics = deps_.metrics,
                 .clock = deps_.clock,
                 .logger = deps_.logger,
                 .faults = deps_.faults,
                 .tracer = deps_.tracer}) {
  router_.Add("GET", "/healthz",
              [](const Request&) { return Response::Json(200, {{"status", "ok"}}); });
  router_.Add("GET", "/readyz", [this](const Request& r) { return Readyz(r); });
  router_.Add("GET", "/metrics", [this](const Request&) {
    return Response::Text(200, deps_.metrics.Serialize(), Metrics::kContentType);
  });
}

Response StaticApp::Handle(const Request& request) {
  const std::string route = router_.RouteOf(request);
  if (!route.empty()) {
    return envelope_.Handle(request, {route, /*user_facing=*/false},
                            [this](const Request& r) { return router_.Handle(r); });
  }
  return envelope_.Handle(request, {std::string(kStaticRoute), /*user_facing=*/true},
                          [this](const Request& r) { return deps_.site.Serve(r); });
}

Response StaticApp::Readyz(const Request& r) const {
  json checks = json::object();
  const absl::Status site = deps_.site.Check();
  checks["static"] = site.ok() ? "ok" : Msg(site);
  bool ready = site.ok();
  if (deps_.faults.unready) {
    checks["faults"] = "unready (FOOHUT_FAULTS)";
    ready = false;
  }
  if (!ready) RequestLogger(deps_.logger, r).Warn("not ready", {{"checks", checks}});
  return Response::Json(ready ? 200 : 503,
                        {{"status", ready ? "ready" : "unready"}, {"checks", checks}});
}

}  // namespace hut::foohut
