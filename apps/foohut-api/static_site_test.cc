// StaticSite and StaticApp in-process, on files in a temporary folder. The real
// binary in static mode is in static_site_integration_test.cc.
#include "apps/foohut-api/static_site.h"

#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"
#include "testing/test_env.h"

namespace hut::foohut {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << content;
}

http::Request MakeRequest(std::string method, std::string path) {
  http::Request r;
  r.method = std::move(method);
  r.target = path;
  r.path = std::move(path);
  r.remote_address = "127.0.0.1:40000";
  return r;
}

TEST(StaticHelpersTest, FileOfPath) {
  EXPECT_EQ(*FileOfPath("/"), "index.html");
  EXPECT_EQ(*FileOfPath("/app.js"), "app.js");
  EXPECT_EQ(*FileOfPath("/css/a.css"), "css/a.css");
  EXPECT_EQ(*FileOfPath("/docs/"), "docs/index.html");
  EXPECT_EQ(*FileOfPath("/%2e%2e/x"), "%2e%2e/x");  // decoded once, by the server only
  for (std::string_view bad : {"", "x", "/..", "/../etc/passwd", "/a/../../b", "/./a", "/a/.",
                               "//etc/passwd", "/a//b", "/a\\..\\b"}) {
    EXPECT_EQ(FileOfPath(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(FileOfPath(std::string_view("/a\0b", 4)).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (std::string_view hidden : {"/.git/config", "/.env", "/a/.htaccess"}) {
    EXPECT_EQ(FileOfPath(hidden).status().code(), absl::StatusCode::kNotFound) << hidden;
  }
}

TEST(StaticHelpersTest, ContentTypes) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("a/STYLE.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("config.json"), "application/json");
  EXPECT_EQ(ContentTypeFor("logo.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("logo.png"), "image/png");
  EXPECT_EQ(ContentTypeFor("favicon.ico"), "image/x-icon");
  EXPECT_EQ(ContentTypeFor("robots.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("font.woff2"), "font/woff2");
  EXPECT_EQ(ContentTypeFor("v1.0/LICENSE"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("blob"), "application/octet-stream");
}

TEST(StaticHelpersTest, EtagMatches) {
  EXPECT_TRUE(EtagMatches("\"a-1\"", "\"a-1\""));
  EXPECT_TRUE(EtagMatches("W/\"a-1\"", "\"a-1\""));
  EXPECT_TRUE(EtagMatches("\"x\", \"a-1\"", "\"a-1\""));
  EXPECT_TRUE(EtagMatches(" * ", "\"a-1\""));
  EXPECT_FALSE(EtagMatches("\"a-2\"", "\"a-1\""));
  EXPECT_FALSE(EtagMatches("", "\"a-1\""));
}

class StaticSiteTest : public ::testing::Test {
 protected:
  StaticSiteTest() : root_(dir_.path() + "/site"), site_({.root = root_}) {
    WriteFile(root_ + "/index.html", "<!doctype html><title>Foohut</title>");
    WriteFile(root_ + "/style.css", "body{}");
    WriteFile(root_ + "/config.json", "{}");
    WriteFile(root_ + "/img/logo.svg", "<svg/>");
    WriteFile(root_ + "/.env", "SECRET=1");
    WriteFile(dir_.path() + "/secret.txt", "outside");
    ::symlink("../secret.txt", (root_ + "/escape.txt").c_str());
    ::symlink(dir_.path().c_str(), (root_ + "/escape-dir").c_str());
    ::symlink("/etc/passwd", (root_ + "/passwd").c_str());
    ::symlink("style.css", (root_ + "/alias.css").c_str());
  }

  http::Response Get(std::string path, std::string if_none_match = "") {
    http::Request r = MakeRequest("GET", std::move(path));
    if (!if_none_match.empty()) r.headers.emplace("If-None-Match", if_none_match);
    return site_.Serve(r);
  }

  testing::TempDir dir_;
  std::string root_;
  StaticSite site_;
};

TEST_F(StaticSiteTest, RootIsIndexHtmlAndNeverCached) {
  http::Response r = Get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<!doctype html><title>Foohut</title>");
  EXPECT_EQ(r.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.Header("Cache-Control"), "no-cache");
  EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Get("/index.html").body, r.body);
  EXPECT_EQ(Get("/config.json").Header("Cache-Control"), "no-cache");
}

TEST_F(StaticSiteTest, AssetsHaveTypeEtagAndLongMaxAge) {
  http::Response r = Get("/img/logo.svg");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<svg/>");
  EXPECT_EQ(r.Header("Content-Type"), "image/svg+xml");
  EXPECT_EQ(r.Header("Cache-Control"), "public, max-age=31536000");
  ASSERT_TRUE(r.Header("ETag").has_value());
  EXPECT_THAT(*r.Header("ETag"), StartsWith("\"6-"));  // size first
  EXPECT_EQ(Get("/alias.css").body, "body{}");         // a symlink inside the root is fine
}

TEST_F(StaticSiteTest, IfNoneMatchGives304) {
  const std::string etag = *Get("/style.css").Header("ETag");
  http::Response r = Get("/style.css", etag);
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.Header("ETag"), etag);
  EXPECT_EQ(r.Header("Cache-Control"), "public, max-age=31536000");
  EXPECT_EQ(Get("/style.css", "W/" + etag).status, 304);
  EXPECT_EQ(Get("/style.css", "\"other\"").status, 200);

  // A new release of the file (other size) has another tag.
  WriteFile(root_ + "/style.css", "body{color:red}");
  EXPECT_EQ(Get("/style.css", etag).status, 200);
}

TEST_F(StaticSiteTest, HeadAndMethods) {
  EXPECT_EQ(site_.Serve(MakeRequest("HEAD", "/style.css")).status, 200);
  http::Response r = site_.Serve(MakeRequest("POST", "/style.css"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow"), "GET, HEAD");
}

TEST_F(StaticSiteTest, UnknownFileIs404Json) {
  http::Response r = Get("/nope.js");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], 404);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
}

TEST_F(StaticSiteTest, NoDirectoryListings) {
  EXPECT_EQ(Get("/img").status, 404);
  EXPECT_EQ(Get("/img/").status, 404);  // no index.html there
}

TEST_F(StaticSiteTest, DotDotRefused) {
  EXPECT_EQ(Get("/../secret.txt").status, 400);
  EXPECT_EQ(Get("/img/../../secret.txt").status, 400);
  EXPECT_EQ(Get("/img/..").status, 400);
}

TEST_F(StaticSiteTest, EncodedDotDotIsNotDecodedTwice) {
  // The server decodes %2e%2e to ".." (refused above); a double-encoded
  // %252e%252e reaches us as "%2e%2e", a name that does not exist.
  EXPECT_EQ(Get("/%2e%2e/secret.txt").status, 404);
  EXPECT_EQ(Get("/..%2fsecret.txt").status, 404);
}

TEST_F(StaticSiteTest, AbsolutePathsRefused) {
  EXPECT_EQ(Get("//etc/passwd").status, 400);
  EXPECT_EQ(Get(dir_.path() + "/secret.txt").status, 404);  // taken as below the root
  EXPECT_EQ(Get("etc/passwd").status, 400);
  EXPECT_EQ(Get("/..\\secret.txt").status, 400);
}

TEST_F(StaticSiteTest, SymlinksEscapingTheRootAreAbsent) {
  EXPECT_EQ(Get("/escape.txt").status, 404);
  EXPECT_EQ(Get("/escape-dir/secret.txt").status, 404);
  EXPECT_EQ(Get("/passwd").status, 404);
}

TEST_F(StaticSiteTest, DotfilesAreAbsent) { EXPECT_EQ(Get("/.env").status, 404); }

TEST_F(StaticSiteTest, CheckWantsAReadableIndex) {
  EXPECT_TRUE(site_.Check().ok());
  ASSERT_EQ(::unlink((root_ + "/index.html").c_str()), 0);
  EXPECT_THAT(std::string(site_.Check().message()), HasSubstr("no readable index.html"));
  EXPECT_FALSE(StaticSite({.root = dir_.path() + "/missing"}).Check().ok());
}

class StaticAppTest : public StaticSiteTest {
 protected:
  std::unique_ptr<StaticApp> MakeApp(Faults faults = {}) {
    return std::make_unique<StaticApp>(StaticApp::Deps{.site = site_,
                                                       .metrics = metrics_,
                                                       .clock = clock_,
                                                       .logger = Logger(sink_, clock_, "http"),
                                                       .faults = faults,
                                                       .tracer = nullptr});
  }

  testing::FakeClock clock_;
  testing::CaptureLogSink sink_;
  Metrics metrics_{"1.2.3", "staging"};
};

TEST_F(StaticAppTest, OperationalEndpoints) {
  auto app = MakeApp();
  EXPECT_EQ(app->Handle(MakeRequest("GET", "/healthz")).status, 200);
  http::Response ready = app->Handle(MakeRequest("GET", "/readyz"));
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(json::parse(ready.body)["checks"]["static"], "ok");

  http::Request r = MakeRequest("GET", "/style.css");
  r.headers.emplace("X-Request-ID", "req-42");
  http::Response file = app->Handle(r);
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(file.Header("X-Request-ID"), "req-42");
  EXPECT_TRUE(file.Header("traceparent").has_value());
  EXPECT_EQ(app->Handle(MakeRequest("GET", "/nope")).status, 404);

  const std::string metrics = app->Handle(MakeRequest("GET", "/metrics")).body;
  EXPECT_THAT(metrics,
              HasSubstr("http_requests_total{code=\"200\",method=\"GET\",route=\"static\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("http_requests_total{code=\"404\",method=\"GET\",route=\"static\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("http_request_duration_seconds_bucket"));
  EXPECT_THAT(metrics, HasSubstr("foohut_build_info{env=\"staging\",version=\"1.2.3\"} 1"));

  bool logged = false;
  for (const json& line : sink_.Parsed()) {
    if (line["msg"] == "request" && line["path"] == "/style.css") {
      logged = true;
      EXPECT_EQ(line["request_id"], "req-42");
      EXPECT_EQ(line["level"], "INFO");
      EXPECT_EQ(line["route"], "static");
    }
  }
  EXPECT_TRUE(logged);
}

TEST_F(StaticAppTest, NotReadyWithoutIndex) {
  auto app = MakeApp();
  ASSERT_EQ(::unlink((root_ + "/index.html").c_str()), 0);
  http::Response r = app->Handle(MakeRequest("GET", "/readyz"));
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(json::parse(r.body)["checks"]["static"].get<std::string>(),
              HasSubstr("no readable index.html"));
}

TEST_F(StaticAppTest, FaultsHitFilesNotProbes) {
  Faults faults;
  faults.errors = 1.0;
  faults.unready = true;
  auto app = MakeApp(faults);
  EXPECT_EQ(app->Handle(MakeRequest("GET", "/style.css")).status, 500);
  EXPECT_EQ(app->Handle(MakeRequest("GET", "/")).status, 500);
  EXPECT_EQ(app->Handle(MakeRequest("GET", "/healthz")).status, 200);
  EXPECT_EQ(app->Handle(MakeRequest("GET", "/metrics")).status, 200);
  http::Response r = app->Handle(MakeRequest("GET", "/readyz"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["checks"]["faults"], "unready (FOOHUT_FAULTS)");
}

// web/ is served with a year-long max-age on assets, so index.html must
// reference each asset by a URL that changes with its content.
TEST(WebFrontEndTest, AssetUrlsCarryTheirContentHash) {
  const std::string web = testing::SourceDir() + "/web";
  std::ifstream in(web + "/index.html");
  ASSERT_TRUE(in) << web << "/index.html";
  std::stringstream html;
  html << in.rdbuf();
  const std::string text = html.str();
  const std::regex asset(R"re((?:href|src)="([^"?:]+)\?v=([0-9a-f]+)")re");
  int checked = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), asset);
       it != std::sregex_iterator(); ++it, ++checked) {
    const std::string file = (*it)[1];
    std::ifstream f(web + "/" + file, std::ios::binary);
    ASSERT_TRUE(f) << file;
    std::stringstream content;
    content << f.rdbuf();
    const std::string bytes = content.str();
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()),
                       bytes.size());
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    EXPECT_EQ((*it)[2], std::string(hex, 12))
        << "web/index.html: update the ?v= of " << file << " (sha256sum web/" << file
        << " | cut -c1-12)";
  }
  EXPECT_EQ(checked, 2);  // style.css and app.js
}

TEST(WebFrontEndTest, IsAReadySite) {
  StaticSite site({.root = testing::SourceDir() + "/web"});
  EXPECT_TRUE(site.Check().ok()) << site.Check();
  http::Response config = site.Serve(MakeRequest("GET", "/config.json"));
  ASSERT_EQ(config.status, 200);
  EXPECT_EQ(json::parse(config.body)["apiBaseUrl"], "http://127.0.0.1:8080");
}

}  // namespace
}  // namespace hut::foohut
