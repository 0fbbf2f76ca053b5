// `foohut-api serve --static DIR`, the real binary, with no PostgreSQL, Redis
// or JWT keys in its environment.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/common/subprocess.h"
#include "src/http/client.h"
#include "testing/test_env.h"

namespace hut::foohut {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << content;
}

class StaticServer {
 public:
  StaticServer(const std::string& dir, const std::string& log_path,
               std::map<std::string, std::string> env = {})
      : port_(testing::PickFreePort()), log_path_(log_path) {
    ProcessOptions opts;
    opts.argv = {testing::BinPath("foohut-api"), "serve", "--static", dir};
    // Only what static mode needs: no database, Redis or keys, in production.
    opts.clear_env = true;
    opts.env = std::move(env);
    opts.env["PORT"] = std::to_string(port_);
    opts.env["FOOHUT_ENV"] = "production";
    opts.stdout_mode = opts.stderr_mode = OutputMode::kFile;
    opts.stdout_path = opts.stderr_path = log_path_;
    auto p = Process::Spawn(opts);
    if (p.ok()) process_ = std::move(*p);
  }
  ~StaticServer() {
    if (process_) process_->Stop(milliseconds(5000));
  }

  absl::StatusOr<http::ClientResponse> Get(std::string target, http::Headers headers = {}) {
    http::ClientRequest req;
    req.port = port_;
    req.target = std::move(target);
    req.headers = std::move(headers);
    req.timeout = milliseconds(3000);
    return http::Fetch(req);
  }

  ::testing::AssertionResult WaitHealthy() {
    if (!process_) return ::testing::AssertionFailure() << "spawn failed";
    for (int i = 0; i < 100; ++i) {
      auto r = Get("/healthz");
      if (r.ok() && r->status == 200) return ::testing::AssertionSuccess();
      if (auto exit = process_->TryWait()) {
        return ::testing::AssertionFailure() << "ended: " << exit->ToString() << "\n" << Log();
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    return ::testing::AssertionFailure() << "not healthy in 10 s\n" << Log();
  }

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  Process& process() { return *process_; }

 private:
  uint16_t port_;
  std::string log_path_;
  std::unique_ptr<Process> process_;
};

TEST(StaticModeTest, ServesFilesProbesAndRefusesTraversal) {
  testing::TempDir dir;
  const std::string root = dir.path() + "/site";
  WriteFile(root + "/index.html", "<!doctype html><h1>Foohut</h1>");
  WriteFile(root + "/app.js", "console.log(1);");
  WriteFile(dir.path() + "/secret.txt", "outside");
  StaticServer server(root, dir.path() + "/log");
  ASSERT_TRUE(server.WaitHealthy());

  auto index = server.Get("/");
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->body, "<!doctype html><h1>Foohut</h1>");
  EXPECT_EQ(index->Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(index->Header("Cache-Control"), "no-cache");
  EXPECT_TRUE(index->Header("traceparent").has_value());

  auto js = server.Get("/app.js", {{"X-Request-ID", "static-1"}});
  ASSERT_TRUE(js.ok()) << js.status();
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->body, "console.log(1);");
  EXPECT_EQ(js->Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js->Header("X-Request-ID"), "static-1");
  ASSERT_TRUE(js->Header("ETag").has_value());
  auto again = server.Get("/app.js", {{"If-None-Match", *js->Header("ETag")}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 304);
  EXPECT_EQ(again->body, "");

  auto missing = server.Get("/missing.css");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], 404);

  // Traversal, plain and percent-encoded: never the file outside the root.
  for (const char* target : {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
                             "/..%2fsecret.txt", "/%252e%252e/secret.txt", "//secret.txt"}) {
    auto r = server.Get(target);
    ASSERT_TRUE(r.ok()) << target << ": " << r.status();
    EXPECT_THAT(r->status, ::testing::AnyOf(400, 404)) << target;
    EXPECT_THAT(r->body, ::testing::Not(HasSubstr("outside"))) << target;
  }

  auto ready = server.Get("/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200) << ready->body;
  auto metrics = server.Get("/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_THAT(metrics->body, HasSubstr("route=\"static\""));

  // Readiness follows the folder: no index.html, not ready.
  std::filesystem::remove(root + "/index.html");
  ready = server.Get("/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 503);

  ExitStatus exit = server.process().Stop(milliseconds(5000));
  EXPECT_TRUE(exit.success()) << exit.ToString() << "\n" << server.Log();
  EXPECT_THAT(server.Log(), HasSubstr("\"stopped\""));
}

TEST(StaticModeTest, ServesTheRepositoryFrontEnd) {
  testing::TempDir dir;
  StaticServer server(testing::SourceDir() + "/web", dir.path() + "/log");
  ASSERT_TRUE(server.WaitHealthy());
  for (const char* target : {"/", "/style.css", "/app.js", "/config.json"}) {
    auto r = server.Get(target);
    ASSERT_TRUE(r.ok()) << target << ": " << r.status();
    EXPECT_EQ(r->status, 200) << target;
  }
  auto config = server.Get("/config.json");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(json::parse(config->body)["apiBaseUrl"], "http://127.0.0.1:8080");
  auto ready = server.Get("/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200);
}

TEST(StaticModeTest, FaultsApplyToFiles) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/site/index.html", "hi");
  StaticServer server(dir.path() + "/site", dir.path() + "/log",
                      {{"FOOHUT_FAULTS", "errors=1,unready"}});
  ASSERT_TRUE(server.WaitHealthy());
  auto r = server.Get("/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  r = server.Get("/readyz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
}

}  // namespace
}  // namespace hut::foohut
