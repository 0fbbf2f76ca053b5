// Drives a real HAProxy 2.6 (Debian) on loopback in front of real HTTP servers.
#include "src/local/haproxy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "src/http/client.h"
#include "src/http/server.h"
#include "testing/test_env.h"

namespace hut::local {
namespace {

using std::chrono::milliseconds;

// A replica stand-in: answers its name on "/", and /readyz per a flag.
struct Replica {
  explicit Replica(std::string name) : name(std::move(name)) {
    auto s = http::Server::Start({}, [this](const http::Request& req) {
      if (req.path == "/readyz") {
        return http::Response::Text(ready.load() ? 200 : 503, "");
      }
      return http::Response::Text(200, this->name);
    });
    EXPECT_TRUE(s.ok()) << s.status();
    server = std::move(*s);
  }
  std::string name;
  std::atomic<bool> ready{true};
  std::unique_ptr<http::Server> server;
};

class HaproxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = testing::PickFreePort();
    HaproxyOptions opts;
    opts.dir = dir_.path() + "/lb";
    opts.services.push_back({.name = "web", .port = port_, .health_path = "/readyz",
                             .check_interval = milliseconds(100), .fall = 3, .rise = 1});
    opts.stats_port = testing::PickFreePort();
    auto lb = Haproxy::Start(opts);
    ASSERT_TRUE(lb.ok()) << lb.status();
    lb_ = std::move(*lb);
  }

  // Who answered each of n requests through the load balancer.
  std::map<std::string, int> Spread(int n) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i) {
      auto r = http::Fetch({.port = port_, .target = "/"});
      if (!r.ok()) {
        ++seen["error: " + std::string(r.status().message())];
      } else if (r->status != 200) {
        ++seen["status " + std::to_string(r->status)];
      } else {
        ++seen[r->body];
      }
    }
    return seen;
  }

  LbServerStats StatsOf(const std::string& server) {
    auto stats = lb_->Stats();
    EXPECT_TRUE(stats.ok()) << stats.status();
    for (const auto& s : *stats) {
      if (s.server == server) return s;
    }
    return {};
  }

  bool WaitForStatus(const std::string& server, std::string_view prefix) {
    for (int i = 0; i < 100; ++i) {
      if (StatsOf(server).status.starts_with(prefix)) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

  testing::TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<Haproxy> lb_;
};

TEST_F(HaproxyTest, BalancesAcrossAddedServersAndHonoursWeights) {
  Replica a("a"), b("b");
  ASSERT_TRUE(lb_->AddServer("web", {.name = "a", .port = a.server->port()}).ok());
  ASSERT_TRUE(lb_->AddServer("web", {.name = "b", .port = b.server->port()}).ok());
  // Repeating an add is a no-op.
  ASSERT_TRUE(lb_->AddServer("web", {.name = "a", .port = a.server->port()}).ok());
  ASSERT_TRUE(WaitForStatus("a", "UP"));
  ASSERT_TRUE(WaitForStatus("b", "UP"));

  auto seen = Spread(20);
  EXPECT_EQ(seen["a"], 10);
  EXPECT_EQ(seen["b"], 10);

  ASSERT_TRUE(lb_->SetWeight("web", "a", 0).ok());
  seen = Spread(10);
  EXPECT_EQ(seen["b"], 10);
  EXPECT_EQ(StatsOf("a").weight, 0);
  EXPECT_GE(StatsOf("b").responses[2], 20);
}

TEST_F(HaproxyTest, DrainedAndRemovedServersGetNoTraffic) {
  Replica a("a"), b("b");
  ASSERT_TRUE(lb_->AddServer("web", {.name = "a", .port = a.server->port()}).ok());
  ASSERT_TRUE(lb_->AddServer("web", {.name = "b", .port = b.server->port()}).ok());
  ASSERT_TRUE(WaitForStatus("b", "UP"));
  ASSERT_TRUE(lb_->Drain("web", "a").ok());
  EXPECT_EQ(Spread(10)["b"], 10);
  ASSERT_TRUE(lb_->RemoveServer("web", "a").ok());
  ASSERT_TRUE(lb_->RemoveServer("web", "a").ok());  // safe to repeat
  EXPECT_EQ(StatsOf("a").server, "");
  EXPECT_EQ(Spread(10)["b"], 10);
}

TEST_F(HaproxyTest, FailingHealthChecksTakeAServerOut) {
  Replica a("a"), b("b");
  ASSERT_TRUE(lb_->AddServer("web", {.name = "a", .port = a.server->port()}).ok());
  ASSERT_TRUE(lb_->AddServer("web", {.name = "b", .port = b.server->port()}).ok());
  ASSERT_TRUE(WaitForStatus("b", "UP"));
  b.ready = false;
  ASSERT_TRUE(WaitForStatus("b", "DOWN"));
  EXPECT_EQ(Spread(10)["a"], 10);
}

TEST_F(HaproxyTest, ReloadKeepsServersAndTheirWeights) {
  Replica a("a"), b("b");
  ASSERT_TRUE(lb_->AddServer("web", {.name = "a", .port = a.server->port()}).ok());
  ASSERT_TRUE(lb_->AddServer("web", {.name = "b", .port = b.server->port()}).ok());
  ASSERT_TRUE(lb_->SetWeight("web", "a", 0).ok());
  absl::Status reloaded = lb_->Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded;
  ASSERT_TRUE(WaitForStatus("b", "UP"));
  EXPECT_EQ(StatsOf("a").weight, 0);
  EXPECT_EQ(Spread(10)["b"], 10);
}

TEST_F(HaproxyTest, BadRequestsAreClearErrors) {
  EXPECT_EQ(lb_->AddServer("nope", {.name = "a", .port = 1}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(lb_->AddServer("web", {.name = "bad name", .port = 1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lb_->AddServer("web", {.name = "a", .port = 1, .weight = 999}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lb_->SetWeight("web", "ghost", 5).code(), absl::StatusCode::kNotFound);
}

TEST(ParseShowStatTest, ReadsServerRowsByHeaderName) {
  std::string csv =
      "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,"
      "wredis,status,weight,hrsp_2xx,hrsp_5xx,rtime,check_status\n"
      "fe_web,FRONTEND,,,1,2,,10,0,0,0,0,0,,,,,OPEN,,,,,\n"
      "web,r1,0,0,2,3,,40,0,0,,0,,1,2,3,4,UP,100,38,2,7,L7OK\n"
      "web,BACKEND,0,0,2,3,,40,0,0,0,0,,1,2,3,4,UP,100,38,2,7,\n";
  auto rows = ParseShowStat(csv);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].service, "web");
  EXPECT_EQ(rows[0].server, "r1");
  EXPECT_EQ(rows[0].current_sessions, 2);
  EXPECT_EQ(rows[0].total_sessions, 40);
  EXPECT_EQ(rows[0].connection_errors, 1);
  EXPECT_EQ(rows[0].response_errors, 2);
  EXPECT_EQ(rows[0].retries, 3);
  EXPECT_EQ(rows[0].redispatches, 4);
  EXPECT_EQ(rows[0].status, "UP");
  EXPECT_EQ(rows[0].weight, 100);
  EXPECT_EQ(rows[0].responses[2], 38);
  EXPECT_EQ(rows[0].responses[5], 2);
  EXPECT_EQ(rows[0].avg_response_ms, 7);
  EXPECT_EQ(rows[0].check_status, "L7OK");
}

}  // namespace
}  // namespace hut::local
