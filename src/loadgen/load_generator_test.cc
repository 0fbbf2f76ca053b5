#include "src/loadgen/load_generator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "src/http/server.h"

namespace hut::loadgen {
namespace {

using std::chrono::milliseconds;

TEST(LoadGeneratorTest, HoldsTheRateAndCountsAnswersByHeader) {
  std::atomic<int> n{0};
  auto server = http::Server::Start({}, [&](const http::Request&) {
    http::Response r = http::Response::Text(200, "ok");
    r.SetHeader("X-Version", (n++ % 2) ? "v1" : "v2");
    return r;
  });
  ASSERT_TRUE(server.ok());
  auto load = LoadGenerator::Start(
      {.port = (*server)->port(), .rate = 200, .count_header = "X-Version"});
  ASSERT_TRUE(load.ok()) << load.status();
  std::this_thread::sleep_for(milliseconds(1000));
  LoadReport r = (*load)->Stop();
  // Open loop: about rate x elapsed requests, all answered.
  EXPECT_NEAR(static_cast<double>(r.sent), 200.0 * r.elapsed_s, 40.0);
  EXPECT_EQ(r.failed(), 0);
  EXPECT_EQ(r.ok, r.sent);
  EXPECT_EQ(r.by_header["v1"] + r.by_header["v2"], r.sent);
  EXPECT_GT(r.LatencyQuantileMs(0.99), 0);
  EXPECT_EQ((*load)->Stop().sent, r.sent);  // idempotent
}

TEST(LoadGeneratorTest, CountsServerAndTransportErrors) {
  auto server = http::Server::Start({}, [](const http::Request& req) {
    return http::Response::Text(req.path == "/bad" ? 503 : 200, "");
  });
  ASSERT_TRUE(server.ok());
  uint16_t port = (*server)->port();
  auto load = LoadGenerator::Start({.port = port, .targets = {"/good", "/bad"}, .rate = 100});
  ASSERT_TRUE(load.ok());
  std::this_thread::sleep_for(milliseconds(500));
  (*server)->Shutdown(milliseconds(0));
  std::this_thread::sleep_for(milliseconds(300));
  LoadReport r = (*load)->Stop();
  EXPECT_GT(r.server_errors, 0);
  EXPECT_GT(r.transport_errors, 0);
  EXPECT_EQ(r.ok + r.failed(), r.sent);
  EXPECT_EQ(r.errors["HTTP 503"], r.server_errors);
  EXPECT_NE(r.Summary().find("failed"), std::string::npos);
}

TEST(LoadGeneratorTest, RejectsBadOptions) {
  EXPECT_FALSE(LoadGenerator::Start({.port = 0}).ok());
  EXPECT_FALSE(LoadGenerator::Start({.port = 1, .rate = 0}).ok());
  EXPECT_FALSE(LoadGenerator::Start({.port = 1, .targets = {}}).ok());
}

TEST(LoadReportTest, NearestRankQuantiles) {
  LoadReport r;
  EXPECT_EQ(r.LatencyQuantileMs(0.5), 0);
  for (int i = 1; i <= 100; ++i) r.latencies_ms.push_back(101 - i);
  EXPECT_EQ(r.LatencyQuantileMs(0.5), 50);
  EXPECT_EQ(r.LatencyQuantileMs(0.99), 99);
  EXPECT_EQ(r.LatencyQuantileMs(1.0), 100);
}

}  // namespace
}  // namespace hut::loadgen
