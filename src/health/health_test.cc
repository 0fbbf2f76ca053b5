#include "src/health/health.h"

#include <gtest/gtest.h>

#include <atomic>

#include "src/http/server.h"
#include "testing/fake_clock.h"
#include "testing/test_env.h"

namespace hut::health {
namespace {

using std::chrono::milliseconds;

ProbeResult Result(bool ok) { return {TimePoint(), ok, ok ? "HTTP 200" : "HTTP 503"}; }

TEST(FailureCounterTest, TwoFailuresAreNotEnoughThreeAre) {
  FailureCounter c(3);
  EXPECT_FALSE(c.passing());
  c.Record(Result(false));
  c.Record(Result(false));
  EXPECT_FALSE(c.failed());
  EXPECT_EQ(c.FailureReason("/readyz"), "");
  c.Record(Result(false));
  EXPECT_TRUE(c.failed());
  EXPECT_EQ(c.FailureReason("/readyz"), "3 consecutive failed checks of /readyz (last: HTTP 503)");
}

TEST(FailureCounterTest, ASuccessResetsTheCount) {
  FailureCounter c(3);
  c.Record(Result(false));
  c.Record(Result(false));
  c.Record(Result(true));
  EXPECT_TRUE(c.passing());
  c.Record(Result(false));
  c.Record(Result(false));
  EXPECT_FALSE(c.failed());
  EXPECT_EQ(c.consecutive_failures(), 2);
}

TEST(ProbeTest, ReportsStatusAndTransportFailures) {
  std::atomic<int> status{200};
  auto server = http::Server::Start({}, [&](const http::Request&) {
    return http::Response::Text(status.load(), "");
  });
  ASSERT_TRUE(server.ok()) << server.status();
  testing::FakeClock clock;
  ProbeResult ok = Probe("127.0.0.1", (*server)->port(), "/readyz", milliseconds(1000), clock);
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.detail, "HTTP 200");
  EXPECT_EQ(ok.at, clock.Now());
  status = 503;
  ProbeResult bad = Probe("127.0.0.1", (*server)->port(), "/readyz", milliseconds(1000), clock);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.detail, "HTTP 503");
  uint16_t port = (*server)->port();
  (*server)->Shutdown(milliseconds(0));
  ProbeResult refused = Probe("127.0.0.1", port, "/readyz", milliseconds(1000), clock);
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.detail.find("127.0.0.1"), std::string::npos) << refused.detail;
}

}  // namespace
}  // namespace hut::health
