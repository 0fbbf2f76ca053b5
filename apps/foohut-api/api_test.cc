// The Api in-process, with hand-written fakes for the store and the cache.
// The same flows against real PostgreSQL and Redis are in integration_test.cc.
#include "apps/foohut-api/api.h"

#include <algorithm>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/http/trace_context.h"
#include "testing/exposition.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"

namespace hut::foohut {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class FakeStore final : public Store {
 public:
  absl::StatusOr<User> CreateUser(std::string_view email, std::string_view hash) override {
    absl::MutexLock lock(&mu_);
    if (!available) return absl::UnavailableError("down");
    for (const auto& [id, u] : users_) {
      if (u.email == email) return absl::AlreadyExistsError("dup");
    }
    User u{static_cast<int64_t>(users_.size() + 1), std::string(email), std::string(hash)};
    users_[u.id] = u;
    return u;
  }
  absl::StatusOr<User> FindUserByEmail(std::string_view email) override {
    absl::MutexLock lock(&mu_);
    if (!available) return absl::UnavailableError("down");
    for (const auto& [id, u] : users_) {
      if (u.email == email) return u;
    }
    return absl::NotFoundError("no user");
  }
  absl::StatusOr<CreatedPage> CreatePage(int64_t owner, std::string_view title,
                                         std::string_view body) override {
    absl::MutexLock lock(&mu_);
    if (!available) return absl::UnavailableError("down");
    Page p{static_cast<int64_t>(pages_.size() + 1), owner, std::string(title), std::string(body),
           "2026-01-01T00:00:00.000Z"};
    const bool first = std::none_of(pages_.begin(), pages_.end(),
                                    [&](const auto& e) { return e.second.owner_id == owner; });
    pages_[p.id] = p;
    return CreatedPage{p, first};
  }
  absl::StatusOr<Page> GetPage(int64_t id) override {
    absl::MutexLock lock(&mu_);
    ++page_reads;
    if (!available) return absl::UnavailableError("down");
    auto it = pages_.find(id);
    if (it == pages_.end()) return absl::NotFoundError("no page");
    return it->second;
  }
  absl::StatusOr<std::vector<Page>> SearchPages(std::string_view q, int limit) override {
    absl::MutexLock lock(&mu_);
    if (!available) return absl::UnavailableError("down");
    std::vector<Page> out;
    for (const auto& [id, p] : pages_) {
      if (p.title.find(q) != std::string::npos || p.body.find(q) != std::string::npos) {
        out.push_back(p);
      }
    }
    return out;
  }
  absl::Status Ping() override {
    return available ? absl::OkStatus() : absl::UnavailableError("postgres: down");
  }

  bool available = true;
  int page_reads = 0;

 private:
  absl::Mutex mu_;
  std::map<int64_t, User> users_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, Page> pages_ ABSL_GUARDED_BY(mu_);
};

class FakeCache final : public Cache {
 public:
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    if (!available) return absl::UnavailableError("redis: down");
    auto it = values_.find(std::string(key));
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  absl::Status Set(std::string_view key, std::string_view value, std::chrono::seconds) override {
    if (!available) return absl::UnavailableError("redis: down");
    values_[std::string(key)] = std::string(value);
    return absl::OkStatus();
  }
  absl::Status Ping() override {
    return available ? absl::OkStatus() : absl::UnavailableError("redis: down");
  }
  bool available = true;

 private:
  std::map<std::string, std::string> values_;
};

http::Request MakeRequest(std::string method, std::string target, std::string body = "") {
  http::Request r;
  r.method = std::move(method);
  r.target = target;
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.query = http::ParseQuery(target.substr(q + 1));
  r.body = std::move(body);
  r.remote_address = "127.0.0.1:40000";
  return r;
}

json Body(const http::Response& r) { return json::parse(r.body); }

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() { Reset({}); }

  void Reset(Faults faults, ApiOptions options = {}) {
    api_.reset();
    JwtKeySet keys;
    keys.active_kid = "k1";
    keys.keys.emplace("k1", Secret(std::string(32, 'k')));
    jwt_ = std::make_unique<JwtCodec>(keys, clock_);
    metrics_ = std::make_unique<Metrics>("1.2.3", "staging");
    api_ = std::make_unique<Api>(Api::Deps{.store = store_,
                                           .cache = cache_,
                                           .jwt = *jwt_,
                                           .passwords = passwords_,
                                           .metrics = *metrics_,
                                           .clock = clock_,
                                           .logger = Logger(sink_, clock_, "http"),
                                           .faults = faults,
                                           .tracer = nullptr},
                                 options);
  }

  http::Response Call(std::string method, std::string target, std::string body = "",
                      std::string token = "") {
    http::Request r = MakeRequest(std::move(method), std::move(target), std::move(body));
    if (!token.empty()) r.headers.emplace("Authorization", "Bearer " + token);
    return api_->Handle(r);
  }

  // Signs up and logs in; returns the token.
  std::string Login(const std::string& email = "ada@foohut.com") {
    const std::string creds = json{{"email", email}, {"password", "long enough"}}.dump();
    EXPECT_EQ(Call("POST", "/api/v1/signup", creds).status, 201);
    http::Response r = Call("POST", "/api/v1/login", creds);
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r)["token"];
  }

  testing::FakeClock clock_;
  testing::CaptureLogSink sink_;
  FakeStore store_;
  FakeCache cache_;
  PasswordHasher passwords_;
  std::unique_ptr<JwtCodec> jwt_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, Healthz) {
  http::Response r = Call("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Body(r), (json{{"status", "ok"}}));
  EXPECT_TRUE(r.Header("traceparent").has_value());
  EXPECT_TRUE(r.Header("X-Request-ID").has_value());
  EXPECT_EQ(r.Header("X-Foohut-Version"), "1.2.3");
}

TEST_F(ApiTest, ValidTraceparentKeepsTraceIdAndLogsIt) {
  http::Request req = MakeRequest("GET", "/api/v1/pages/12345");
  req.headers.emplace("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  req.headers.emplace("X-Request-ID", "req-123");
  http::Response r = api_->Handle(req);
  EXPECT_EQ(r.status, 404);
  std::optional<http::TraceContext> echoed = http::ParseTraceparent(*r.Header("traceparent"));
  ASSERT_TRUE(echoed.has_value());
  EXPECT_EQ(echoed->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(echoed->span_id, "00f067aa0ba902b7");
  EXPECT_EQ(*r.Header("X-Request-ID"), "req-123");
  std::vector<json> lines = sink_.Parsed();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back()["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(lines.back()["request_id"], "req-123");
  EXPECT_EQ(lines.back()["msg"], "request");
  EXPECT_EQ(lines.back()["level"], "INFO");
  EXPECT_EQ(lines.back()["route"], "/api/v1/pages/{id}");
  EXPECT_EQ(lines.back()["status"], 404);
  EXPECT_EQ(lines.back()["remote"], "127.0.0.1:40000");
  EXPECT_TRUE(lines.back()["duration_ms"].is_number());
}

TEST_F(ApiTest, InvalidTraceparentGetsFreshTrace) {
  http::Request req = MakeRequest("GET", "/api/v1/pages/abc");
  req.headers.emplace("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01");
  req.headers.emplace("X-Request-ID", "bad id with spaces");
  http::Response r = api_->Handle(req);
  std::optional<http::TraceContext> echoed = http::ParseTraceparent(*r.Header("traceparent"));
  ASSERT_TRUE(echoed.has_value());
  EXPECT_NE(echoed->trace_id, "00000000000000000000000000000000");
  EXPECT_NE(*r.Header("X-Request-ID"), "bad id with spaces");
  EXPECT_EQ(sink_.Parsed().back()["trace_id"], echoed->trace_id);
}

TEST_F(ApiTest, ProbeSuccessesLoggedOnlyAtDebug) {
  const size_t before = sink_.lines().size();
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("GET", "/metrics").status, 200);
  EXPECT_EQ(sink_.lines().size(), before);  // the logger's level is INFO
  cache_.available = false;
  EXPECT_EQ(Call("GET", "/readyz").status, 503);
  EXPECT_EQ(sink_.Parsed().back()["level"], "WARN");
}

TEST_F(ApiTest, EveryLogLineOfARequestCarriesItsIds) {
  std::string token = Login();
  http::Request req = MakeRequest("POST", "/api/v1/pages", R"({"title": "t", "body": "b"})");
  req.headers.emplace("Authorization", "Bearer " + token);
  req.headers.emplace("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  const size_t before = sink_.lines().size();
  EXPECT_EQ(api_->Handle(req).status, 201);
  std::vector<json> lines = sink_.Parsed();
  ASSERT_GE(lines.size() - before, 2u);  // "page created" and the access line
  for (size_t i = before; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["trace_id"], "0af7651916cd43dd8448eb211c80319c") << lines[i].dump();
    EXPECT_TRUE(lines[i].contains("request_id"));
  }
}

TEST_F(ApiTest, SignupValidation) {
  struct Case {
    std::string body;
    int status;
    const char* message;
  };
  const Case cases[] = {
      {"{not json", 400, "not valid JSON"},
      {"", 400, "not valid JSON"},
      {"[1,2]", 400, "JSON object"},
      {R"({"password": "long enough"})", 400, "\"email\" is required"},  // pragma: allowlist secret (test input)
      {R"({"email": 5, "password": "long enough"})", 400, "\"email\" must be a string"},  // pragma: allowlist secret (test input)
      {R"({"email": "ada@foohut.com"})", 400, "\"password\" is required"},
      {R"({"email": "ada@foohut.com", "password": null})", 400, "must be a string"},
      {R"({"email": "not-an-email", "password": "long enough"})", 400, "not an email"},  // pragma: allowlist secret (test input)
      {R"({"email": "a@b", "password": "long enough"})", 400, "not an email"},  // pragma: allowlist secret (test input)
      {R"({"email": "ada@foohut.com", "password": "short"})", 400, "at least 8"},  // pragma: allowlist secret (test input)
  };
  for (const Case& c : cases) {
    http::Response r = Call("POST", "/api/v1/signup", c.body);
    EXPECT_EQ(r.status, c.status) << c.body;
    json body = Body(r);
    EXPECT_EQ(body["error"]["code"], c.status) << c.body;
    EXPECT_THAT(body["error"]["message"].get<std::string>(), HasSubstr(c.message)) << c.body;
  }
}

TEST_F(ApiTest, SignupLoginCreateGetSearch) {
  http::Response r =
      Call("POST", "/api/v1/signup", R"({"email": "Ada@Foohut.com", "password": "long enough"})");  // pragma: allowlist secret (test input)
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r)["email"], "ada@foohut.com");
  EXPECT_EQ(Call("POST", "/api/v1/signup", R"({"email": "ada@foohut.com", "password": "xxxxxxxx"})")  // pragma: allowlist secret (test input)
                .status,
            409);
  EXPECT_EQ(Call("POST", "/api/v1/login", R"({"email": "ada@foohut.com", "password": "wrong pw"})")  // pragma: allowlist secret (test input)
                .status,
            401);
  EXPECT_EQ(Call("POST", "/api/v1/login", R"({"email": "bob@foohut.com", "password": "whatever"})")  // pragma: allowlist secret (test input)
                .status,
            401);
  r = Call("POST", "/api/v1/login", R"({"email": "ada@foohut.com", "password": "long enough"})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string token = Body(r)["token"];
  ASSERT_TRUE(jwt_->Verify(token).ok());

  r = Call("POST", "/api/v1/pages", R"({"title": "Canary", "body": "deploy slowly"})", token);
  ASSERT_EQ(r.status, 201) << r.body;
  json page = Body(r);
  EXPECT_EQ(page["title"], "Canary");
  EXPECT_EQ(page["owner_id"], 1);
  const std::string path = "/api/v1/pages/" + std::to_string(page["id"].get<int64_t>());

  r = Call("GET", path);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("X-Cache"), "miss");
  EXPECT_EQ(Body(r), page);
  r = Call("GET", path);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("X-Cache"), "hit");
  EXPECT_EQ(Body(r), page);
  EXPECT_EQ(store_.page_reads, 1);

  r = Call("GET", "/api/v1/pages?q=deploy");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(Body(r)["results"].size(), 1u);
  EXPECT_EQ(Body(r)["results"][0]["id"], page["id"]);

  std::string metrics = Call("GET", "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("foohut_signups_total 1"));
  EXPECT_THAT(metrics, HasSubstr("foohut_pages_created_total 1"));
  EXPECT_THAT(metrics, HasSubstr("foohut_conversions_total 1"));
  // The replica's own resource use.
  for (const char* series : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                             "process_open_fds ", "process_max_fds ",
                             "process_start_time_seconds "}) {
    EXPECT_THAT(metrics, HasSubstr(series));
  }
  EXPECT_GT(::hut::testing::SampleSum(metrics, "process_resident_memory_bytes", {}), 1e6);
  EXPECT_GT(::hut::testing::SampleSum(metrics, "process_open_fds", {}), 2);
  EXPECT_THAT(metrics, HasSubstr(R"(foohut_logins_total{result="failure"} 2)"));
  EXPECT_THAT(metrics, HasSubstr(R"(foohut_cache_lookups_total{result="hit"} 1)"));
  EXPECT_THAT(metrics, HasSubstr(R"(foohut_build_info{env="staging",version="1.2.3"} 1)"));
  EXPECT_THAT(
      metrics,
      HasSubstr(R"(http_requests_total{code="200",method="GET",route="/api/v1/pages/{id}"} 2)"));
  EXPECT_THAT(metrics, HasSubstr("http_request_duration_seconds_bucket"));
  EXPECT_THAT(metrics, HasSubstr(R"(le="2.5")"));
  EXPECT_THAT(metrics, HasSubstr(R"(le="10")"));
}

TEST_F(ApiTest, PageErrors) {
  std::string token = Login();
  EXPECT_EQ(Call("POST", "/api/v1/pages", R"({"title": "t", "body": "b"})").status, 401);
  http::Response r = Call("POST", "/api/v1/pages", R"({"title": "t", "body": "b"})", "x.y.z");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Body(r)["error"]["code"], 401);
  EXPECT_EQ(Call("POST", "/api/v1/pages", R"({"title": "t"})", token).status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/pages", R"({"title": 1, "body": "b"})", token).status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/pages", R"({"title": "  ", "body": "b"})", token).status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/pages", "{", token).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/pages/999").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/pages/abc").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/pages/-1").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/pages/99999999999999999999").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/pages").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/pages?q=").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/pages?q=%ff").status, 400);
  EXPECT_EQ(Call("GET", "/nowhere").status, 404);
  EXPECT_EQ(Call("DELETE", "/api/v1/pages/1").status, 405);
}

TEST_F(ApiTest, ExpiredTokenRefused) {
  std::string token = Login();
  clock_.Advance(std::chrono::hours(2));
  EXPECT_EQ(Call("POST", "/api/v1/pages", R"({"title": "t", "body": "b"})", token).status, 401);
}

TEST_F(ApiTest, ReadinessFollowsDependencies) {
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  cache_.available = false;
  http::Response r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Body(r)["checks"]["postgres"], "ok");
  EXPECT_THAT(Body(r)["checks"]["redis"].get<std::string>(), HasSubstr("redis"));
  cache_.available = true;
  store_.available = false;
  EXPECT_EQ(Call("GET", "/readyz").status, 503);
  store_.available = true;
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
}

TEST_F(ApiTest, CacheDownStillServesReads) {
  std::string token = Login();
  json page = Body(Call("POST", "/api/v1/pages", R"({"title": "t", "body": "b"})", token));
  cache_.available = false;
  http::Response r = Call("GET", "/api/v1/pages/" + std::to_string(page["id"].get<int64_t>()));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Body(r), page);
}

TEST_F(ApiTest, DatabaseDownIs503) {
  store_.available = false;
  http::Response r = Call("GET", "/api/v1/pages/1");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Body(r)["error"]["code"], 503);
}

TEST_F(ApiTest, ErrorFaultHitsApiOnly) {
  Faults faults;
  faults.errors = 1.0;
  Reset(faults);
  EXPECT_EQ(Call("GET", "/api/v1/pages?q=x").status, 500);
  EXPECT_EQ(Call("POST", "/api/v1/login", "{}").status, 500);
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  EXPECT_EQ(Call("GET", "/metrics").status, 200);
}

TEST_F(ApiTest, UnreadyFault) {
  Faults faults;
  faults.unready = true;
  Reset(faults);
  http::Response r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(Body(r)["checks"]["faults"].get<std::string>(), HasSubstr("unready"));
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

TEST_F(ApiTest, NoCorsUnlessConfigured) {
  http::Request r = MakeRequest("GET", "/api/v1/pages?q=x");
  r.headers.emplace("Origin", "http://127.0.0.1:8081");
  EXPECT_FALSE(api_->Handle(r).Header("Access-Control-Allow-Origin").has_value());
}

TEST_F(ApiTest, CorsForTheConfiguredOrigin) {
  Reset({}, {.cors_origin = "http://127.0.0.1:8081"});
  http::Request preflight = MakeRequest("OPTIONS", "/api/v1/pages");
  preflight.headers.emplace("Origin", "http://127.0.0.1:8081");
  preflight.headers.emplace("Access-Control-Request-Method", "POST");
  http::Response r = api_->Handle(preflight);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.Header("Access-Control-Allow-Origin"), "http://127.0.0.1:8081");
  EXPECT_THAT(r.Header("Access-Control-Allow-Headers").value_or(""), HasSubstr("Authorization"));

  http::Request get = MakeRequest("GET", "/api/v1/pages?q=x");
  get.headers.emplace("Origin", "http://127.0.0.1:8081");
  r = api_->Handle(get);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Access-Control-Allow-Origin"), "http://127.0.0.1:8081");
  EXPECT_EQ(r.Header("Vary"), "Origin");

  // Another origin gets no grant, and no preflight answer.
  preflight.headers.erase("Origin");
  preflight.headers.emplace("Origin", "http://evil.example");
  r = api_->Handle(preflight);
  EXPECT_EQ(r.status, 405);
  EXPECT_FALSE(r.Header("Access-Control-Allow-Origin").has_value());
  // Probes never get CORS headers.
  http::Request health = MakeRequest("GET", "/healthz");
  health.headers.emplace("Origin", "http://127.0.0.1:8081");
  EXPECT_FALSE(api_->Handle(health).Header("Access-Control-Allow-Origin").has_value());
}

TEST(ApiHelpersTest, LooksLikeEmail) {
  for (const char* good : {"a@b.co", "ada.lovelace+x@mail.foohut.com"}) {
    EXPECT_TRUE(LooksLikeEmail(good)) << good;
  }
  for (const char* bad :
       {"", "a", "@b.co", "a@", "a@b", "a@.co", "a@b.", "a b@c.de", "a@@b.co", "a@b@c.de"}) {
    EXPECT_FALSE(LooksLikeEmail(bad)) << bad;
  }
}

TEST(ApiHelpersTest, ParseId) {
  EXPECT_EQ(ParseId("1"), 1);
  EXPECT_EQ(ParseId("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", "0", "-1", "+1", "1a", " 1", "9223372036854775808", "1.0"}) {
    EXPECT_FALSE(ParseId(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace hut::foohut
