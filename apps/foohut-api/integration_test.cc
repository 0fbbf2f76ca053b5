// foohut-api end to end: the real binary against real PostgreSQL 15 and
// Redis 7 on loopback, started once for this test binary.
#include <signal.h>

#include <fstream>
#include <future>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "apps/foohut-api/backends_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/common/subprocess.h"
#include "src/http/client.h"
#include "src/http/trace_context.h"
#include "testing/test_env.h"

namespace hut::foohut {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

Backends* const backends = &TestBackends();

absl::StatusOr<CommandResult> RunApi(std::vector<std::string> args, Env env) {
  ProcessOptions opts;
  opts.argv = {testing::BinPath("foohut-api")};
  opts.argv.insert(opts.argv.end(), args.begin(), args.end());
  opts.env = std::move(env);
  return RunCommand(opts, milliseconds(30'000));
}

bool TableExists(const std::string& table) {
  pqxx::connection conn(backends->database_url());
  pqxx::work txn(conn);
  return !txn.exec_params("SELECT to_regclass($1)", "public." + table)[0][0].is_null();
}

void MigrateUp() {
  auto r = RunApi({"migrate", "up"}, backends->BaseEnv());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->status.success()) << r->output;
}

// A lowercase word unlikely to be in any other page.
std::string UniqueWord() {
  std::string hex = http::RandomHex(6);
  for (char& c : hex) c = static_cast<char>('g' + (c >= 'a' ? c - 'a' + 10 : c - '0'));
  return hex;
}

// One foohut-api child process with its log in a file.
class ApiProcess {
 public:
  explicit ApiProcess(Env env, std::vector<std::string> args = {"serve"}) {
    port_ = testing::PickFreePort();
    env["PORT"] = std::to_string(port_);
    log_path_ = backends->dir() + "/api-" + std::to_string(port_) + ".log";
    ProcessOptions opts;
    opts.argv = {testing::BinPath("foohut-api")};
    opts.argv.insert(opts.argv.end(), args.begin(), args.end());
    opts.env = std::move(env);
    opts.stdout_mode = OutputMode::kFile;
    opts.stdout_path = log_path_;
    opts.stderr_mode = OutputMode::kFile;
    opts.stderr_path = log_path_;
    auto p = Process::Spawn(opts);
    if (p.ok()) process_ = std::move(*p);
  }
  ~ApiProcess() {
    if (process_) process_->Stop(milliseconds(10'000));
  }

  // Waits until /healthz answers (or the process ends).
  ::testing::AssertionResult WaitHealthy() {
    if (!process_) return ::testing::AssertionFailure() << "spawn failed";
    for (int i = 0; i < 150; ++i) {
      auto r = Get("/healthz", milliseconds(500));
      if (r.ok() && r->status == 200) return ::testing::AssertionSuccess();
      if (auto exit = process_->TryWait()) {
        return ::testing::AssertionFailure() << "foohut-api ended: " << exit->ToString() << "\n"
                                             << Log();
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    return ::testing::AssertionFailure() << "foohut-api not healthy in 15 s\n" << Log();
  }

  absl::StatusOr<http::ClientResponse> Call(std::string method, std::string target,
                                            std::string body = "", http::Headers headers = {},
                                            milliseconds timeout = milliseconds(10'000)) {
    http::ClientRequest req;
    req.method = std::move(method);
    req.port = port_;
    req.target = std::move(target);
    req.body = std::move(body);
    req.headers = std::move(headers);
    if (!req.body.empty()) req.headers.emplace("Content-Type", "application/json");
    req.timeout = timeout;
    return http::Fetch(req);
  }
  absl::StatusOr<http::ClientResponse> Get(std::string target,
                                           milliseconds timeout = milliseconds(10'000)) {
    return Call("GET", std::move(target), "", {}, timeout);
  }

  // Polls GET `target` until it answers `status`, for at most `limit`.
  bool WaitForStatus(const std::string& target, int status, milliseconds limit) {
    for (auto end = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < end;) {
      auto r = Get(target, milliseconds(2000));
      if (r.ok() && r->status == status) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  }

  std::vector<json> LogLines() const {
    std::vector<json> out;
    std::ifstream in(log_path_);
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) out.push_back(j);
    }
    return out;
  }
  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  Process& process() { return *process_; }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  std::string log_path_;
  std::unique_ptr<Process> process_;
};

json Body(const http::ClientResponse& r) { return json::parse(r.body, nullptr, false); }

TEST(MigrationsTest, UpDownUp) {
  auto r = RunApi({"migrate", "up"}, backends->BaseEnv());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->status.success()) << r->output;
  EXPECT_TRUE(TableExists("users"));
  EXPECT_TRUE(TableExists("pages"));
  r = RunApi({"migrate", "up"}, backends->BaseEnv());  // again: nothing to do
  ASSERT_TRUE(r.ok() && r->status.success()) << r->output;
  EXPECT_THAT(r->output, HasSubstr("applied 0 migrations"));
  r = RunApi({"migrate", "status"}, backends->BaseEnv());
  ASSERT_TRUE(r.ok() && r->status.success()) << r->output;
  EXPECT_THAT(r->output, HasSubstr("create_pages"));
  EXPECT_THAT(r->output, ::testing::Not(HasSubstr("pending")));

  r = RunApi({"migrate", "down"}, backends->BaseEnv());  // default: one step
  ASSERT_TRUE(r.ok() && r->status.success()) << r->output;
  EXPECT_THAT(r->output, HasSubstr("reverted 1 migration"));
  EXPECT_TRUE(TableExists("pages"));
  EXPECT_FALSE(TableExists("pages_owner_created_idx"));
  r = RunApi({"migrate", "down", "10"}, backends->BaseEnv());
  ASSERT_TRUE(r.ok() && r->status.success()) << r->output;
  EXPECT_THAT(r->output, HasSubstr("reverted 2 migrations"));
  EXPECT_FALSE(TableExists("users"));
  EXPECT_FALSE(TableExists("pages"));
  r = RunApi({"migrate", "status"}, backends->BaseEnv());
  ASSERT_TRUE(r.ok() && r->status.success()) << r->output;
  EXPECT_THAT(r->output, HasSubstr("pending"));

  r = RunApi({"migrate", "up", "1"}, backends->BaseEnv());
  ASSERT_TRUE(r.ok() && r->status.success()) << r->output;
  EXPECT_TRUE(TableExists("users"));
  EXPECT_FALSE(TableExists("pages"));
  r = RunApi({"migrate", "up"}, backends->BaseEnv());
  ASSERT_TRUE(r.ok() && r->status.success()) << r->output;
  EXPECT_THAT(r->output, HasSubstr("applied 2 migrations"));
  EXPECT_TRUE(TableExists("users"));
  EXPECT_TRUE(TableExists("pages"));
  EXPECT_TRUE(TableExists("pages_owner_created_idx"));
}

TEST(MigrationsTest, DatabaseDownIsAnError) {
  Env env = backends->BaseEnv();
  env["FOOHUT_DATABASE_URL"] =
      "postgresql://foohut@127.0.0.1:" + std::to_string(testing::PickFreePort()) + "/foohut";
  auto r = RunApi({"migrate", "up"}, env);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status.code, 1) << r->output;
  EXPECT_THAT(r->output, HasSubstr("migrate up failed"));
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { MigrateUp(); }
};

TEST_F(ApiTest, SignupLoginCreatePageSearchGet) {
  ApiProcess api(backends->BaseEnv());
  ASSERT_TRUE(api.WaitHealthy());
  ASSERT_TRUE(api.WaitForStatus("/readyz", 200, milliseconds(10'000))) << api.Log();

  const std::string word = UniqueWord();
  const std::string creds =
      json{{"email", word + "@foohut.com"}, {"password", "correct horse battery"}}.dump();
  auto r = api.Call("POST", "/api/v1/signup", creds);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 201) << r->body;
  r = api.Call("POST", "/api/v1/signup", creds);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 409) << r->body;

  r = api.Call("POST", "/api/v1/login",
               json{{"email", word + "@foohut.com"}, {"password", "wrong password"}}.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  r = api.Call("POST", "/api/v1/login", creds);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string token = Body(*r)["token"];

  http::Headers auth{{"Authorization", "Bearer " + token}};
  r = api.Call("POST", "/api/v1/pages",
               json{{"title", "Deploying Foohut"},
                    {"body", "Canary releases of " + word + " watch error rates."}}
                   .dump(),
               auth);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 201) << r->body;
  const json page = Body(*r);
  ASSERT_TRUE(page["id"].is_number_integer());
  EXPECT_EQ(page["title"], "Deploying Foohut");

  r = api.Get("/api/v1/pages?q=" + word);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  json results = Body(*r)["results"];
  ASSERT_EQ(results.size(), 1u) << r->body;
  EXPECT_EQ(results[0]["id"], page["id"]);
  r = api.Get("/api/v1/pages?q=releases%20" + word);  // stemmed, several words
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Body(*r)["results"].size(), 1u) << r->body;

  const std::string path = "/api/v1/pages/" + std::to_string(page["id"].get<int64_t>());
  r = api.Get(path);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Body(*r), page);
  EXPECT_EQ(r->Header("X-Cache"), "miss");
  r = api.Get(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Body(*r), page);
  EXPECT_EQ(r->Header("X-Cache"), "hit");

  r = api.Get("/metrics");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->Header("Content-Type").value_or(""), HasSubstr("version=0.0.4"));
  EXPECT_THAT(r->body, HasSubstr("foohut_signups_total 1"));
  EXPECT_THAT(r->body, HasSubstr("foohut_pages_created_total 1"));
  EXPECT_THAT(r->body, HasSubstr(R"(foohut_build_info{env="staging",version="9.9.9"} 1)"));
  EXPECT_THAT(r->body, HasSubstr(R"(foohut_cache_lookups_total{result="hit"} 1)"));
  EXPECT_THAT(
      r->body,
      HasSubstr(R"(http_requests_total{code="200",method="GET",route="/api/v1/pages/{id}"} 2)"));
  EXPECT_THAT(r->body, HasSubstr("http_request_duration_seconds_bucket{"));
}

TEST_F(ApiTest, BadRequestsGet4xxJson) {
  ApiProcess api(backends->BaseEnv());
  ASSERT_TRUE(api.WaitHealthy());
  struct Case {
    std::string method, target, body;
    std::string token;
    int status;
  };
  const Case cases[] = {
      {"POST", "/api/v1/signup", "{not json", "", 400},
      {"POST", "/api/v1/signup", R"({"email": "a@b.co"})", "", 400},
      {"POST", "/api/v1/signup", R"({"email": 7, "password": "long enough"})", "", 400},  // pragma: allowlist secret (test input)
      {"POST", "/api/v1/login", "[]", "", 400},
      {"POST", "/api/v1/login", R"({"email": "nobody@foohut.com", "password": "whatever1"})", "",  // pragma: allowlist secret (test input)
       401},
      {"POST", "/api/v1/pages", R"({"title": "t", "body": "b"})", "", 401},
      {"POST", "/api/v1/pages", R"({"title": "t", "body": "b"})", "not.a.token", 401},
      {"POST", "/api/v1/pages", R"({"title": "t", "body": "b"})",
       "eyJhbGciOiJub25lIiwia2lkIjoidGVzdC0xIn0.eyJzdWIiOiIxIiwiaWF0IjoxLCJleHAiOjk5OTk5OTk5OTl9.",  // pragma: allowlist secret (an unsigned test token)
       401},
      {"GET", "/api/v1/pages/abc", "", "", 400},
      {"GET", "/api/v1/pages/123456789", "", "", 404},
      {"GET", "/api/v1/pages", "", "", 400},
      {"GET", "/no/such/route", "", "", 404},
  };
  for (const Case& c : cases) {
    http::Headers headers;
    if (!c.token.empty()) headers.emplace("Authorization", "Bearer " + c.token);
    auto r = api.Call(c.method, c.target, c.body, headers);
    ASSERT_TRUE(r.ok()) << c.target << ": " << r.status();
    EXPECT_EQ(r->status, c.status) << c.method << " " << c.target << " " << c.body;
    json body = Body(*r);
    EXPECT_EQ(body["error"]["code"], c.status) << r->body;
    EXPECT_TRUE(body["error"]["message"].is_string()) << r->body;
  }
  EXPECT_TRUE(api.process().TryWait() == std::nullopt) << "crashed\n" << api.Log();
}

TEST_F(ApiTest, TraceContextEchoedAndLogged) {
  ApiProcess api(backends->BaseEnv());
  ASSERT_TRUE(api.WaitHealthy());
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  auto r = api.Call("GET", "/api/v1/pages/987654321", "",
                    {{"traceparent", "00-" + trace_id + "-00f067aa0ba902b7-01"},
                     {"X-Request-ID", "test-request-1"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  auto echoed = http::ParseTraceparent(r->Header("traceparent").value_or(""));
  ASSERT_TRUE(echoed.has_value()) << r->Header("traceparent").value_or("(none)");
  EXPECT_EQ(echoed->trace_id, trace_id);
  EXPECT_EQ(r->Header("X-Request-ID"), "test-request-1");

  r = api.Call("GET", "/api/v1/pages/abc", "",
               {{"traceparent", "garbage"}, {"X-Request-ID", "bad id!"}});
  ASSERT_TRUE(r.ok());
  auto fresh = http::ParseTraceparent(r->Header("traceparent").value_or(""));
  ASSERT_TRUE(fresh.has_value());
  EXPECT_NE(fresh->trace_id, trace_id);
  const std::string fresh_request_id = r->Header("X-Request-ID").value_or("");
  EXPECT_FALSE(fresh_request_id.empty());
  EXPECT_NE(fresh_request_id, "bad id!");

  int with_trace = 0;
  bool fresh_logged = false;
  for (const json& line : api.LogLines()) {
    if (line.value("trace_id", "") == trace_id) {
      ++with_trace;
      EXPECT_EQ(line["request_id"], "test-request-1");
    }
    if (line.value("trace_id", "") == fresh->trace_id) {
      fresh_logged = true;
      EXPECT_EQ(line["request_id"], fresh_request_id);
    }
  }
  EXPECT_GE(with_trace, 1) << api.Log();
  EXPECT_TRUE(fresh_logged) << api.Log();
}

TEST_F(ApiTest, ReadinessFollowsRedis) {
  ApiProcess api(backends->BaseEnv());
  ASSERT_TRUE(api.WaitHealthy());
  ASSERT_TRUE(api.WaitForStatus("/readyz", 200, milliseconds(10'000))) << api.Log();

  // A page in the database, read once so that it is cached too.
  const std::string word = UniqueWord();
  const std::string creds = json{{"email", word + "@foohut.com"}, {"password", "12345678"}}.dump();
  ASSERT_EQ(api.Call("POST", "/api/v1/signup", creds)->status, 201);
  const std::string token = Body(*api.Call("POST", "/api/v1/login", creds))["token"];
  auto created = api.Call("POST", "/api/v1/pages", json{{"title", word}, {"body", "b"}}.dump(),
                          {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(created->status, 201);
  const std::string path = "/api/v1/pages/" + std::to_string(Body(*created)["id"].get<int64_t>());

  backends->StopRedis();
  ASSERT_TRUE(api.WaitForStatus("/readyz", 503, milliseconds(10'000))) << api.Log();
  auto r = api.Get("/readyz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Body(*r)["checks"]["postgres"], "ok") << r->body;
  EXPECT_NE(Body(*r)["checks"]["redis"], "ok") << r->body;
  EXPECT_EQ(api.Get("/healthz")->status, 200);
  r = api.Get(path);  // reads fall back to PostgreSQL
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Body(*r)["title"], word);

  backends->StartRedis();
  EXPECT_TRUE(api.WaitForStatus("/readyz", 200, milliseconds(10'000))) << api.Log();
  EXPECT_EQ(api.Get(path)->status, 200);
}

TEST_F(ApiTest, ReadinessFollowsPostgresAndTheServiceRecovers) {
  ApiProcess api(backends->BaseEnv());
  ASSERT_TRUE(api.WaitHealthy());
  ASSERT_TRUE(api.WaitForStatus("/readyz", 200, milliseconds(10'000))) << api.Log();
  const std::string word = UniqueWord();
  const std::string creds = json{{"email", word + "@foohut.com"}, {"password", "12345678"}}.dump();
  ASSERT_EQ(api.Call("POST", "/api/v1/signup", creds)->status, 201);

  backends->StopPostgres();
  ASSERT_TRUE(api.WaitForStatus("/readyz", 503, milliseconds(10'000))) << api.Log();
  auto r = api.Get("/readyz");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(Body(*r)["checks"]["postgres"], "ok") << r->body;
  EXPECT_EQ(Body(*r)["checks"]["redis"], "ok") << r->body;
  r = api.Call("POST", "/api/v1/login", creds);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_EQ(Body(*r)["error"]["code"], 503);
  EXPECT_EQ(api.Get("/healthz")->status, 200);  // alive, just not ready

  backends->StartPostgres();
  EXPECT_TRUE(api.WaitForStatus("/readyz", 200, milliseconds(10'000))) << api.Log();
  r = api.Call("POST", "/api/v1/login", creds);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(ApiTest, SigtermDuringSlowRequestStillAnswersIt) {
  Env env = backends->BaseEnv();
  env["FOOHUT_FAULTS"] = "latency=1500ms";
  ApiProcess api(env);
  ASSERT_TRUE(api.WaitHealthy());
  const auto start = std::chrono::steady_clock::now();
  auto slow = std::async(std::launch::async, [&] { return api.Get("/api/v1/pages?q=slow"); });
  // Wait until the slow request is in flight: this /metrics request is the other one.
  bool in_flight = false;
  for (int i = 0; i < 100 && !in_flight; ++i) {
    auto m = api.Get("/metrics");
    in_flight = m.ok() && m->body.find("\nhttp_requests_in_flight 2\n") != std::string::npos;
    if (!in_flight) std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(in_flight) << api.Get("/metrics")->body;
  ASSERT_TRUE(api.process().Signal(SIGTERM));
  auto r = slow.get();
  ASSERT_TRUE(r.ok()) << r.status() << "\n" << api.Log();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(1500));
  std::optional<ExitStatus> exit = api.process().WaitFor(milliseconds(10'000));
  ASSERT_TRUE(exit.has_value()) << api.Log();
  EXPECT_TRUE(exit->success()) << exit->ToString() << "\n" << api.Log();
  // New connections are refused once it has stopped.
  EXPECT_FALSE(api.Get("/healthz", milliseconds(1000)).ok());
}

TEST_F(ApiTest, ErrorFaultHitsApiRoutesOnly) {
  Env env = backends->BaseEnv();
  env["FOOHUT_FAULTS"] = "errors=1.0";
  ApiProcess api(env);
  ASSERT_TRUE(api.WaitHealthy());
  auto r = api.Get("/api/v1/pages?q=anything");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(Body(*r)["error"]["code"], 500);
  EXPECT_EQ(api.Get("/healthz")->status, 200);
  EXPECT_EQ(api.Get("/readyz")->status, 200);
  EXPECT_EQ(api.Get("/metrics")->status, 200);
  EXPECT_THAT(api.Get("/metrics")->body,
              HasSubstr(R"(http_requests_total{code="500",method="GET",route="/api/v1/pages"} 1)"));
}

TEST_F(ApiTest, UnreadyFault) {
  Env env = backends->BaseEnv();
  env["FOOHUT_FAULTS"] = "unready";
  ApiProcess api(env);
  ASSERT_TRUE(api.WaitHealthy());
  auto r = api.Get("/readyz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_THAT(r->body, HasSubstr("unready"));
}

TEST_F(ApiTest, CrashAfterFault) {
  Env env = backends->BaseEnv();
  env["FOOHUT_FAULTS"] = "crash_after=1s";
  ApiProcess api(env);
  std::optional<ExitStatus> exit = api.process().WaitFor(milliseconds(15'000));
  ASSERT_TRUE(exit.has_value()) << api.Log();
  EXPECT_TRUE(exit->exited && exit->code == 70) << exit->ToString() << "\n" << api.Log();
  EXPECT_THAT(api.Log(), HasSubstr("crashing on purpose"));
}

TEST_F(ApiTest, MigrateFlagOnServe) {
  ApiProcess api(backends->BaseEnv(), {"serve", "--migrate"});
  ASSERT_TRUE(api.WaitHealthy());
}

TEST(StartupTest, MissingJwtKeysRefusedOutsideDevelopment) {
  Env env = backends->BaseEnv();
  env["FOOHUT_JWT_KEYS_FILE"] = "";
  env["PORT"] = std::to_string(testing::PickFreePort());
  auto r = RunApi({"serve"}, env);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status.code, 2) << r->output;
  EXPECT_THAT(r->output, HasSubstr("FOOHUT_JWT_KEYS_FILE"));
}

TEST(StartupTest, EphemeralKeyInDevelopmentWithWarning) {
  Env env = backends->BaseEnv();
  env["FOOHUT_JWT_KEYS_FILE"] = "";
  env["FOOHUT_ENV"] = "development";
  ApiProcess api(env);
  ASSERT_TRUE(api.WaitHealthy());
  bool warned = false;
  for (const json& line : api.LogLines()) {
    if (line.value("level", "") == "WARN" &&
        line.value("msg", "").find("ephemeral") != std::string::npos) {
      warned = true;
    }
  }
  EXPECT_TRUE(warned) << api.Log();
}

TEST(StartupTest, BadValuesExit2NamingTheVariable) {
  const std::pair<const char*, const char*> cases[] = {
      {"PORT", "eighty"},
      {"FOOHUT_REDIS_URL", "localhost:6379"},
      {"FOOHUT_FAULTS", "errors=lots"},
      {"FOOHUT_ENV", "qa"},
      {"FOOHUT_SHUTDOWN_GRACE", "forever"},
  };
  for (const auto& [var, value] : cases) {
    Env env = backends->BaseEnv();
    env[var] = value;
    auto r = RunApi({"serve"}, env);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status.code, 2) << var << ": " << r->output;
    EXPECT_THAT(r->output, HasSubstr(var));
  }
  Env env = backends->BaseEnv();
  env["FOOHUT_JWT_KEYS_FILE"] = backends->dir() + "/no-such-keys.json";
  auto r = RunApi({"serve"}, env);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status.code, 2) << r->output;
  EXPECT_THAT(r->output, HasSubstr("no-such-keys.json"));
}

}  // namespace
}  // namespace hut::foohut
