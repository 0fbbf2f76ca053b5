#include "apps/foohut-api/api.h"

#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "apps/foohut-api/strings.h"

namespace hut::foohut {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

constexpr std::string_view kApiPrefix = "/api/";

absl::StatusOr<json> ParseObject(const std::string& body) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("request body is not valid JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("request body must be a JSON object");
  return doc;
}

absl::StatusOr<std::string> StringField(const json& doc, const char* name) {
  auto it = doc.find(name);
  if (it == doc.end())
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is required"));
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" must be a string"));
  }
  return it->get<std::string>();
}

// nlohmann::json refuses to serialise invalid UTF-8; PostgreSQL refuses to store it.
bool IsValidUtf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

Response BadRequest(const absl::Status& s) { return Response::Error(400, Msg(s)); }

// The {"email", "password"} body of signup and login: the email trimmed and
// lower-cased, the password at most `max_password_bytes`.
struct Credentials {
  std::string email;
  Secret password;
};
absl::StatusOr<Credentials> ParseCredentials(const std::string& body, size_t max_password_bytes) {
  absl::StatusOr<json> doc = ParseObject(body);
  if (!doc.ok()) return doc.status();
  absl::StatusOr<std::string> email = StringField(*doc, "email");
  if (!email.ok()) return email.status();
  absl::StatusOr<std::string> password = StringField(*doc, "password");
  if (!password.ok()) return password.status();
  if (password->size() > max_password_bytes) {
    return absl::InvalidArgumentError("\"password\" is too long");
  }
  return Credentials{absl::AsciiStrToLower(absl::StripAsciiWhitespace(*email)),
                     Secret(std::move(*password))};
}

}  // namespace

bool LooksLikeEmail(std::string_view email) {
  if (email.size() < 3 || email.size() > 254) return false;
  const size_t at = email.find('@');
  if (at == std::string_view::npos || at == 0 ||
      email.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view domain = email.substr(at + 1);
  const size_t dot = domain.find('.');
  if (domain.empty() || dot == std::string_view::npos || dot == 0 || domain.back() == '.') {
    return false;
  }
  for (char c : email) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::optional<int64_t> ParseId(std::string_view text) {
  int64_t id = 0;
  if (text.empty() || text.size() > 19) return std::nullopt;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || ptr != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

json PageJson(const Page& page) {
  return {{"id", page.id},
          {"owner_id", page.owner_id},
          {"title", page.title},
          {"body", page.body},
          {"created_at", page.created_at}};
}

Api::Api(Deps deps, ApiOptions options)
    : deps_(std::move(deps)),
      options_(options),
      started_at_(deps_.clock.Now()),
      envelope_({.metrics = deps_.metrics,
                 .clock = deps_.clock,
                 .logger = deps_.logger,
                 .faults = deps_.faults,
                 .tracer = deps_.tracer}) {
  auto bind = [this](Response (Api::*handler)(const Request&)) {
    return [this, handler](const Request& r) { return (this->*handler)(r); };
  };
  router_.Add("GET", "/healthz", bind(&Api::Healthz));
  router_.Add("GET", "/readyz", bind(&Api::Readyz));
  router_.Add("GET", "/metrics", bind(&Api::MetricsPage));
  router_.Add("POST", "/api/v1/signup", bind(&Api::Signup));
  router_.Add("POST", "/api/v1/login", bind(&Api::Login));
  router_.Add("POST", "/api/v1/pages", bind(&Api::CreatePage));
  router_.Add("GET", "/api/v1/pages", bind(&Api::SearchPages));
  router_.Add("GET", "/api/v1/pages/{id}", bind(&Api::GetPage));
}

Logger Api::RequestLogger(const Request& r) const {
  return foohut::RequestLogger(deps_.logger, r);
}

Response Api::Handle(const Request& request) {
  const bool api_route = request.path.starts_with(kApiPrefix);
  Response response =
      envelope_.Handle(request, {router_.RouteOf(request), api_route}, [this](const Request& r) {
        if (std::optional<Response> preflight = Preflight(r)) return *std::move(preflight);
        return router_.Handle(r);
      });
  if (api_route) AllowOrigin(request, response);
  return response;
}

bool Api::OriginAllowed(const Request& r) const {
  if (options_.cors_origin.empty()) return false;
  std::optional<std::string> origin = r.Header("Origin");
  return origin && (options_.cors_origin == "*" || *origin == options_.cors_origin);
}

std::optional<Response> Api::Preflight(const Request& r) const {
  if (r.method != "OPTIONS" || !r.path.starts_with(kApiPrefix) ||
      !r.Header("Access-Control-Request-Method") || !OriginAllowed(r)) {
    return std::nullopt;
  }
  Response response;
  response.status = 204;
  return response.SetHeader("Access-Control-Allow-Methods", "GET, POST")
      .SetHeader("Access-Control-Allow-Headers",
                 "Authorization, Content-Type, traceparent, X-Request-ID")
      .SetHeader("Access-Control-Max-Age", "600");
}

void Api::AllowOrigin(const Request& r, Response& response) const {
  if (options_.cors_origin.empty()) return;
  response.SetHeader("Vary", "Origin");
  if (!OriginAllowed(r)) return;
  response.SetHeader("Access-Control-Allow-Origin",
                     options_.cors_origin == "*" ? "*" : *r.Header("Origin"));
  response.SetHeader("Access-Control-Expose-Headers", "traceparent, X-Request-ID, X-Cache");
}

Response Api::Healthz(const Request&) { return Response::Json(200, {{"status", "ok"}}); }

Response Api::Readyz(const Request& r) {
  json checks = json::object();
  bool ready = true;
  auto check = [&](const char* name, const absl::Status& s) {
    checks[name] = s.ok() ? "ok" : std::string(s.message());
    ready = ready && s.ok();
  };
  check("postgres", deps_.store.Ping());
  check("redis", deps_.cache.Ping());
  if (deps_.faults.unready) {
    checks["faults"] = "unready (FOOHUT_FAULTS)";
    ready = false;
  }
  if (deps_.faults.ready_after && deps_.clock.Now() - started_at_ < *deps_.faults.ready_after) {
    checks["faults"] = "warming up (FOOHUT_FAULTS ready_after)";
    ready = false;
  }
  if (!ready) RequestLogger(r).Warn("not ready", {{"checks", checks}});
  return Response::Json(ready ? 200 : 503,
                        {{"status", ready ? "ready" : "unready"}, {"checks", checks}});
}

Response Api::MetricsPage(const Request&) {
  return Response::Text(200, deps_.metrics.Serialize(), Metrics::kContentType);
}

Response Api::StoreFailure(const Request& r, const absl::Status& status) {
  const bool unavailable = status.code() == absl::StatusCode::kUnavailable;
  RequestLogger(r).Error("store failed", {{"error", status.ToString()}});
  return unavailable ? Response::Error(503, "database unavailable")
                     : Response::Error(500, "internal error");
}

Response Api::Signup(const Request& r) {
  absl::StatusOr<Credentials> credentials = ParseCredentials(r.body, options_.max_password_bytes);
  if (!credentials.ok()) return BadRequest(credentials.status());
  const std::string& normalized = credentials->email;
  const Secret& password = credentials->password;
  if (!LooksLikeEmail(normalized)) return Response::Error(400, "\"email\" is not an email address");
  if (password.Reveal().size() < 8) {
    return Response::Error(400, "\"password\" must have at least 8 characters");
  }
  absl::StatusOr<std::string> hash = deps_.passwords.Hash(password);
  if (!hash.ok()) return StoreFailure(r, hash.status());
  absl::StatusOr<User> user = deps_.store.CreateUser(normalized, *hash);
  if (user.status().code() == absl::StatusCode::kAlreadyExists) {
    return Response::Error(409, "an account with this email exists");
  }
  if (!user.ok()) return StoreFailure(r, user.status());
  deps_.metrics.Signup();
  RequestLogger(r).Info("signed up", {{"user_id", user->id}});
  return Response::Json(201, {{"id", user->id}, {"email", user->email}});
}

Response Api::Login(const Request& r) {
  absl::StatusOr<Credentials> credentials = ParseCredentials(r.body, options_.max_password_bytes);
  if (!credentials.ok()) return BadRequest(credentials.status());
  const std::string& normalized = credentials->email;
  const Secret& password = credentials->password;
  absl::StatusOr<User> user = deps_.store.FindUserByEmail(normalized);
  bool ok = false;
  if (user.ok()) {
    ok = deps_.passwords.Verify(user->password_hash, password);
  } else if (user.status().code() == absl::StatusCode::kNotFound) {
    deps_.passwords.VerifyDummy(password);  // same cost as a wrong password
  } else {
    return StoreFailure(r, user.status());
  }
  deps_.metrics.Login(ok);
  if (!ok) {
    RequestLogger(r).Info("login refused");
    return Response::Error(401, "invalid email or password");
  }
  const std::string token = deps_.jwt.Sign(user->id, user->email);
  RequestLogger(r).Info("logged in", {{"user_id", user->id}});
  return Response::Json(200, {{"token", token}, {"token_type", "Bearer"}});
}

Response Api::CreatePage(const Request& r) {
  std::string auth = r.Header("Authorization").value_or("");
  constexpr std::string_view kBearer = "bearer ";
  if (auth.size() <= kBearer.size() ||
      absl::AsciiStrToLower(auth.substr(0, kBearer.size())) != kBearer) {
    return Response::Error(401, "an Authorization: Bearer <token> header is required")
        .SetHeader("WWW-Authenticate", "Bearer");
  }
  absl::StatusOr<JwtClaims> claims =
      deps_.jwt.Verify(Std(absl::StripAsciiWhitespace(auth.substr(kBearer.size()))));
  if (!claims.ok()) {
    RequestLogger(r).Info("token refused", {{"reason", Msg(claims.status())}});
    return Response::Error(401, Msg(claims.status()))
        .SetHeader("WWW-Authenticate", "Bearer error=\"invalid_token\"");
  }

  absl::StatusOr<json> doc = ParseObject(r.body);
  if (!doc.ok()) return BadRequest(doc.status());
  absl::StatusOr<std::string> title = StringField(*doc, "title");
  if (!title.ok()) return BadRequest(title.status());
  absl::StatusOr<std::string> body = StringField(*doc, "body");
  if (!body.ok()) return BadRequest(body.status());
  if (absl::StripAsciiWhitespace(*title).empty()) {
    return Response::Error(400, "\"title\" must not be empty");
  }
  if (title->size() > options_.max_title_bytes)
    return Response::Error(400, "\"title\" is too long");
  if (body->size() > options_.max_body_bytes) return Response::Error(400, "\"body\" is too long");

  absl::StatusOr<CreatedPage> created = deps_.store.CreatePage(claims->sub, *title, *body);
  if (!created.ok()) return StoreFailure(r, created.status());
  deps_.metrics.PageCreated(created->owners_first);
  RequestLogger(r).Info("page created",
                        {{"page_id", created->page.id}, {"user_id", claims->sub}});
  return Response::Json(201, PageJson(created->page));
}

Response Api::GetPage(const Request& r) {
  auto it = r.path_params.find("id");
  std::optional<int64_t> id = ParseId(it == r.path_params.end() ? "" : it->second);
  if (!id) return Response::Error(400, "page id must be a positive integer");

  const std::string key = absl::StrCat("foohut:page:", *id);
  absl::StatusOr<std::optional<std::string>> cached = deps_.cache.Get(key);
  if (cached.ok() && cached->has_value()) {
    deps_.metrics.CacheLookup("hit");
    return Response::Text(200, std::move(**cached), "application/json").SetHeader("X-Cache", "hit");
  }
  if (cached.ok()) {
    deps_.metrics.CacheLookup("miss");
  } else {
    deps_.metrics.CacheLookup("error");
    RequestLogger(r).Debug("cache get failed", {{"error", cached.status().ToString()}});
  }

  absl::StatusOr<Page> page = deps_.store.GetPage(*id);
  if (page.status().code() == absl::StatusCode::kNotFound) {
    return Response::Error(404, "no such page");
  }
  if (!page.ok()) return StoreFailure(r, page.status());
  std::string body = PageJson(*page).dump();
  if (cached.ok()) {  // don't wait on a cache known to be down
    if (absl::Status s = deps_.cache.Set(key, body, options_.page_cache_ttl); !s.ok()) {
      RequestLogger(r).Debug("cache set failed", {{"error", s.ToString()}});
    }
  }
  return Response::Text(200, std::move(body), "application/json").SetHeader("X-Cache", "miss");
}

Response Api::SearchPages(const Request& r) {
  auto q = r.query.find("q");
  if (q == r.query.end() || absl::StripAsciiWhitespace(q->second).empty()) {
    return Response::Error(400, "query parameter \"q\" is required");
  }
  if (q->second.size() > 256) return Response::Error(400, "query parameter \"q\" is too long");
  if (!IsValidUtf8(q->second)) return Response::Error(400, "query parameter \"q\" is not UTF-8");
  absl::StatusOr<std::vector<Page>> pages =
      deps_.store.SearchPages(q->second, options_.search_limit);
  if (!pages.ok()) return StoreFailure(r, pages.status());
  json results = json::array();
  for (const Page& p : *pages) results.push_back(PageJson(p));
  return Response::Json(200, {{"query", q->second}, {"results", results}});
}

}  // namespace hut::foohut
