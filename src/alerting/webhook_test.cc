#include "src/alerting/webhook.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/alerting/router.h"
#include "src/store/open.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"
#include "testing/test_env.h"

namespace hut::alerting {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// What Alertmanager 0.25 sends (docs: "webhook_config"), one alert firing.
json Notification(const std::string& status = "firing") {
  return json::parse(R"({
    "version": "4",
    "groupKey": "{}/{severity=\"critical\"}:{alertname=\"HighErrorRate\", environment=\"staging\", service=\"backend\"}",
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "hut-page",
    "groupLabels": {"alertname": "HighErrorRate", "environment": "staging", "service": "backend"},
    "commonLabels": {"alertname": "HighErrorRate", "environment": "staging", "service": "backend", "severity": "critical"},
    "commonAnnotations": {"summary": "backend in staging: 21.1% of requests fail"},
    "externalURL": "http://127.0.0.1:9093",
    "alerts": [{
      "status": "firing",
      "labels": {"alertname": "HighErrorRate", "environment": "staging", "service": "backend", "severity": "critical"},
      "annotations": {"summary": "backend in staging: 21.1% of requests fail"},
      "startsAt": "2026-12-07T14:00:00.123456789Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=x",
      "fingerprint": "0000aaaa1111bbbb"
    }]
  })")
      .patch(json::parse(absl::StrCat(R"([{"op":"replace","path":"/status","value":")", status,
                                      R"("},{"op":"replace","path":"/alerts/0/status","value":")",
                                      status, R"("}])")));
}

TEST(WebhookTest, ReadsAlertmanagersNotification) {
  auto n = ParseWebhookNotification(Notification().dump());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->receiver, "hut-page");
  EXPECT_TRUE(n->firing);
  EXPECT_EQ(n->common_labels.at("severity"), "critical");
  ASSERT_EQ(n->alerts.size(), 1u);
  const ReceivedAlert& a = n->alerts[0];
  EXPECT_TRUE(a.firing);
  EXPECT_EQ(a.Label("service"), "backend");
  EXPECT_EQ(a.Label("nope"), "");
  EXPECT_EQ(a.fingerprint, "0000aaaa1111bbbb");
  EXPECT_EQ(a.annotations.at("summary"), "backend in staging: 21.1% of requests fail");
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(a.starts_at.time_since_epoch())
                .count(),
            1796652000123);
  EXPECT_FALSE(a.ends_at.has_value());  // the zero time
}

TEST(WebhookTest, ABadNotificationNamesTheField) {
  const std::pair<std::string, std::string> cases[] = {
      {"[1, 2]", "body: not a JSON object"},
      {"not json", "body: not a JSON object"},
      {R"({"op":"replace","path":"/version","value":"3"})", "version: \"3\""},
      {R"({"op":"remove","path":"/receiver"})", "receiver: missing"},
      {R"({"op":"replace","path":"/status","value":"pending"})", "status: \"pending\" is neither"},
      {R"({"op":"replace","path":"/alerts","value":{}})", "alerts: expected an array"},
      {R"({"op":"remove","path":"/alerts/0/fingerprint"})", "alerts[0].fingerprint: missing"},
      {R"({"op":"replace","path":"/alerts/0/startsAt","value":"yesterday"})",
       "alerts[0].startsAt: \"yesterday\" is not an RFC 3339 time"},
      {R"({"op":"replace","path":"/alerts/0/labels/severity","value":7})",
       "alerts[0].labels.severity: expected a string"},
      {R"({"op":"remove","path":"/alerts/0/labels/alertname"})",
       "alerts[0].labels.alertname: missing"},
      {R"({"op":"replace","path":"/truncatedAlerts","value":-1})", "truncatedAlerts"},
  };
  for (const auto& [change, message] : cases) {
    std::string body = change;
    if (change.starts_with("{\"op\"")) {
      body = Notification().patch(json::array({json::parse(change)})).dump();
    }
    auto n = ParseWebhookNotification(body);
    ASSERT_FALSE(n.ok()) << change;
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(n.status().message(), HasSubstr(message)) << change;
  }
}

class RouterIntakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenStore("sqlite:" + dir_.path() + "/hut.db", clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  std::vector<store::Event> Events() {
    auto e = store_->EventsAfter(0, 100, "staging");
    EXPECT_TRUE(e.ok());
    return e.ok() ? *e : std::vector<store::Event>{};
  }
  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::CaptureLogSink sink_;
  std::unique_ptr<store::Store> store_;

  std::unique_ptr<AlertRouter> Router(const std::string& environment) {
    RouterOptions o;
    o.environment = environment;
    return std::make_unique<AlertRouter>(*store_, clock_, Logger(sink_, clock_, "alerts"), o,
                                         [] {});
  }
};

TEST_F(RouterIntakeTest, AnAlertIsRecordedOnceWhenItFiresAndOnceWhenItResolves) {
  auto intake = Router("staging");
  auto firing = ParseWebhookNotification(Notification("firing").dump());
  ASSERT_TRUE(firing.ok());
  EXPECT_EQ(*intake->Receive(*firing), 1);
  EXPECT_EQ(*intake->Receive(*firing), 0);  // sent again: its group changed, or repeat_interval
  auto resolved = ParseWebhookNotification(Notification("resolved").dump());
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(*intake->Receive(*resolved), 1);
  const std::vector<store::Event> events = Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "alert.firing");
  EXPECT_EQ(events[0].service, "backend");
  EXPECT_EQ(events[0].message,
            "HighErrorRate (critical) firing: backend in staging: 21.1% of requests fail");
  EXPECT_EQ(events[0].data["fingerprint"], "0000aaaa1111bbbb");
  EXPECT_EQ(events[0].data["receiver"], "hut-page");
  EXPECT_EQ(events[0].data["labels"]["severity"], "critical");
  EXPECT_EQ(events[1].type, "alert.resolved");
}

TEST_F(RouterIntakeTest, ARestartedServerDoesNotRecordAStillFiringAlertAgain) {
  auto firing = ParseWebhookNotification(Notification("firing").dump());
  ASSERT_TRUE(firing.ok());
  EXPECT_EQ(*Router("staging")->Receive(*firing), 1);
  auto restarted = Router("staging");
  EXPECT_EQ(*restarted->Receive(*firing), 0);  // Alertmanager's repeat after the restart
  auto resolved = ParseWebhookNotification(Notification("resolved").dump());
  EXPECT_EQ(*restarted->Receive(*resolved), 1);
  // Another environment's alerts do not count as ours.
  EXPECT_EQ(*Router("production")->Receive(*firing), 1);
  EXPECT_EQ(Events().size(), 2u);  // staging's: fired once, resolved once
}

}  // namespace
}  // namespace hut::alerting
