// PrometheusSource against a real Prometheus scraping real foohut-api
// processes, labelled as the charts label pods (namespace, service,
// revision, pod): a healthy baseline and a canary answering only 500s.
#include "src/metrics/prometheus_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "src/common/subprocess.h"
#include "src/http/client.h"
#include "src/local/prometheus_server.h"
#include "testing/test_env.h"

namespace hut::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using std::chrono::milliseconds;

struct Pod {
  std::string name;
  int revision;
  uint16_t port;
  std::unique_ptr<Process> process;
};

class PrometheusSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pods_.push_back(StartPod("foohut-frontend-a", 1, ""));
    pods_.push_back(StartPod("foohut-frontend-b", 2, "errors=1"));
    std::string targets;
    for (const Pod& p : pods_) {
      absl::StrAppend(&targets, "      - targets: ['127.0.0.1:", p.port, "']\n",
                      "        labels: {namespace: foohut-production, service: frontend, revision: '",
                      p.revision, "', pod: ", p.name, "}\n");
    }
    local::PrometheusOptions o;
    o.dir = dir_.path() + "/prometheus";
    o.port = testing::PickFreePort();
    o.config = absl::StrCat("global: {scrape_interval: 500ms}\n", "scrape_configs:\n",
                            "  - job_name: pods\n", "    static_configs:\n", targets);
    auto server = local::PrometheusServer::Start(o);
    ASSERT_TRUE(server.ok()) << server.status();
    prometheus_ = std::move(*server);
  }

  Pod StartPod(const std::string& name, int revision, const std::string& faults) {
    Pod p{name, revision, testing::PickFreePort(), nullptr};
    ProcessOptions run;
    run.argv = {testing::BinPath("foohut-api"), "serve", "--static", testing::SourceDir() + "/web"};
    run.env = {{"PORT", std::to_string(p.port)}, {"FOOHUT_FAULTS", faults},
               {"FOOHUT_VERSION", absl::StrCat("v", revision)}};
    run.stdout_mode = OutputMode::kNull;
    run.stderr_mode = OutputMode::kNull;
    auto process = Process::Spawn(run);
    EXPECT_TRUE(process.ok()) << process.status();
    if (process.ok()) p.process = std::move(*process);
    for (int i = 0; i < 100; ++i) {
      http::ClientRequest req;
      req.port = p.port;
      req.target = "/readyz";
      if (auto r = http::Fetch(req); r.ok() && r->status == 200) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return p;
  }

  void Traffic(int per_pod) {
    for (const Pod& p : pods_) {
      for (int i = 0; i < per_pod; ++i) {
        http::ClientRequest req;
        req.port = p.port;
        req.target = "/index.html";
        ASSERT_TRUE(http::Fetch(req).ok());
      }
    }
  }

  std::unique_ptr<PrometheusSource> Source(const std::string& url) {
    auto s = PrometheusSource::Create({.url = url, .namespace_ = "foohut-production",
                                       .service = "frontend", .canary_revision = 2,
                                       .baseline_revision = 1});
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  void TearDown() override {
    for (Pod& p : pods_) {
      if (p.process) p.process->Stop(std::chrono::seconds(5));
    }
  }

  testing::TempDir dir_;
  std::vector<Pod> pods_;
  std::unique_ptr<local::PrometheusServer> prometheus_;
};

TEST_F(PrometheusSourceTest, EachPodIsASeriesOfItsRevisionsGroup) {
  Traffic(20);
  auto source = Source(prometheus_->url());
  ASSERT_NE(source, nullptr);
  analysis::Observation o;
  for (int i = 0; i < 100; ++i) {  // Prometheus scrapes every 500 ms
    auto scraped = source->Scrape(TimePoint{});
    ASSERT_TRUE(scraped.ok()) << scraped.status();
    o = *scraped;
    if (o.canary.series.contains("foohut-frontend-b") &&
        o.canary.series["foohut-frontend-b"].requests >= 20 &&
        o.baseline.series["foohut-frontend-a"].requests >= 20) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_EQ(o.canary.series.size(), 1u);
  ASSERT_EQ(o.baseline.series.size(), 1u);
  const analysis::SeriesSample& canary = o.canary.series["foohut-frontend-b"];
  const analysis::SeriesSample& baseline = o.baseline.series["foohut-frontend-a"];
  EXPECT_EQ(canary.requests, 20u);  // probes and /metrics left out
  EXPECT_EQ(canary.responses_5xx, 20u);
  EXPECT_EQ(baseline.requests, 20u);
  EXPECT_EQ(baseline.responses_5xx, 0u);
  ASSERT_FALSE(baseline.latency.Empty());
  EXPECT_EQ(baseline.latency.Count(), 20u);
  EXPECT_TRUE(std::isinf(baseline.latency.upper_bounds.back()));
}

TEST_F(PrometheusSourceTest, TheSeriesAreTheServicesSpecs) {
  Traffic(20);
  spec::MetricQueries q;
  q.error_codes = "2..";  // count the successes instead, to see the spec's regex at work
  q.exclude_routes = "";  // and keep /metrics, which Prometheus' own scrapes request
  auto source = PrometheusSource::Create({.url = prometheus_->url(),
                                          .namespace_ = "foohut-production",
                                          .service = "frontend", .canary_revision = 2,
                                          .baseline_revision = 1, .queries = q});
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_THAT((*source)->ErrorsQuery(), HasSubstr("code=~\"2..\""));
  EXPECT_THAT((*source)->RequestsQuery(), Not(HasSubstr("route")));
  analysis::SeriesSample baseline;
  for (int i = 0; i < 100; ++i) {
    auto scraped = (*source)->Scrape(TimePoint{});
    ASSERT_TRUE(scraped.ok()) << scraped.status();
    baseline = scraped->baseline.series["foohut-frontend-a"];
    if (baseline.requests > 20) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_GT(baseline.requests, 20u);  // the 20 and some scrapes of /metrics
  // Every answer of the healthy pod is a 2xx (two queries: a scrape may fall between).
  EXPECT_GE(baseline.responses_5xx + 2, baseline.requests);
  EXPECT_LE(baseline.responses_5xx, baseline.requests + 2);
}

TEST_F(PrometheusSourceTest, NamesWhatIsWrong) {
  PrometheusSourceOptions https;
  https.url = "https://prometheus:9090";
  auto bad = PrometheusSource::Create(https);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("https://prometheus:9090"));

  auto down = Source(absl::StrCat("http://127.0.0.1:", testing::PickFreePort()));
  auto scraped = down->Scrape(TimePoint{});
  ASSERT_FALSE(scraped.ok());
  EXPECT_EQ(scraped.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(scraped.status().message(), HasSubstr("Prometheus at 127.0.0.1"));
}

}  // namespace
}  // namespace hut::metrics
