// The channels' wire formats, field by field: PagerDuty Events API v2
// (developer.pagerduty.com, "Send an Alert Event") and Slack's incoming
// webhooks with Block Kit.
#include "src/alerting/messages.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hut::alerting {
namespace {

using json = nlohmann::json;

ReceivedAlert Alert(bool firing = true, std::string runbook = "docs/runbooks/high-error-rate.md") {
  ReceivedAlert a;
  a.firing = firing;
  a.labels = {{"alertname", "HighErrorRate"},
              {"environment", "production"},
              {"service", "backend"},
              {"severity", "critical"}};
  a.annotations = {{"summary", "backend in production: 21.1% of requests fail"},
                   {"description", "The error ratio has been above 5% for 2m."},
                   {"runbook_url", std::move(runbook)}};
  a.starts_at = TimePoint(std::chrono::milliseconds(1796652000123));
  a.generator_url = "http://127.0.0.1:9090/graph?g0.expr=x";
  a.fingerprint = "8c1f0ff4e3a3d5b2";  // pragma: allowlist secret (a fingerprint)
  return a;
}

TEST(PagerDutyTest, AFiringAlertTriggersWithEveryDocumentedField) {
  const json e = PagerDutyEvent(
      "R0UT1NGK3Y", "production",
      Alert(true, "https://git.example.com/hut/docs/runbooks/high-error-rate.md"));
  EXPECT_EQ(e["routing_key"], "R0UT1NGK3Y");
  EXPECT_EQ(e["event_action"], "trigger");
  EXPECT_EQ(e["dedup_key"], "hut/production/HighErrorRate/8c1f0ff4e3a3d5b2");  // pragma: allowlist secret (a fingerprint)
  const json& p = e["payload"];
  EXPECT_EQ(p["summary"], "backend in production: 21.1% of requests fail");
  EXPECT_EQ(p["source"], "backend.production");
  EXPECT_EQ(p["severity"], "critical");
  EXPECT_EQ(p["timestamp"], "2026-12-07T14:00:00.123Z");
  EXPECT_EQ(p["component"], "backend");
  EXPECT_EQ(p["group"], "production");
  EXPECT_EQ(p["class"], "HighErrorRate");
  EXPECT_EQ(p["custom_details"]["description"], "The error ratio has been above 5% for 2m.");
  EXPECT_EQ(p["custom_details"]["service"], "backend");
  ASSERT_EQ(e["links"].size(), 2u);
  EXPECT_EQ(e["links"][0]["href"], "https://git.example.com/hut/docs/runbooks/high-error-rate.md");
  EXPECT_EQ(e["links"][0]["text"], "Runbook");
  EXPECT_EQ(e["links"][1]["href"], "http://127.0.0.1:9090/graph?g0.expr=x");
}

TEST(PagerDutyTest, AResolvedAlertResolvesTheSameIncident) {
  const json trigger = PagerDutyEvent("K", "production", Alert(true));
  const json resolve = PagerDutyEvent("K", "production", Alert(false));
  EXPECT_EQ(resolve["event_action"], "resolve");
  EXPECT_EQ(resolve["dedup_key"], trigger["dedup_key"]);
  EXPECT_FALSE(resolve.contains("payload"));  // resolve takes only the key
  EXPECT_EQ(resolve.size(), 3u);
}

TEST(PagerDutyTest, SeveritiesAndLimitsAreWhatPagerDutyTakes) {
  EXPECT_EQ(PagerDutySeverity("critical"), "critical");
  EXPECT_EQ(PagerDutySeverity("high"), "error");
  EXPECT_EQ(PagerDutySeverity("medium"), "warning");
  EXPECT_EQ(PagerDutySeverity("low"), "warning");
  EXPECT_EQ(PagerDutySeverity("info"), "info");
  EXPECT_EQ(PagerDutySeverity(""), "warning");
  ReceivedAlert long_one = Alert();
  long_one.annotations["summary"] = std::string(2000, 'x') + "é";
  long_one.fingerprint = std::string(400, 'f');
  const json e = PagerDutyEvent("K", "production", long_one);
  EXPECT_LE(e["payload"]["summary"].get<std::string>().size(), 1024u);
  EXPECT_LE(e["dedup_key"].get<std::string>().size(), 255u);
  // A relative runbook path is not a link PagerDuty could open.
  EXPECT_EQ(e["links"].size(), 1u);
  EXPECT_EQ(e["payload"]["custom_details"]["runbook"], "docs/runbooks/high-error-rate.md");
}

TEST(SlackTest, AMessageHasItsHeaderFieldsAndButtons) {
  const json m =
      SlackMessage("production", Alert(true, "https://git.example.com/runbooks/high-error-rate.md"));
  EXPECT_EQ(m["text"],
            "Firing: HighErrorRate (backend): backend in production: 21.1% of requests fail");
  const json& blocks = m["blocks"];
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0]["type"], "header");
  EXPECT_EQ(blocks[0]["text"]["type"], "plain_text");
  EXPECT_EQ(blocks[0]["text"]["text"], "Firing: HighErrorRate (backend)");
  EXPECT_EQ(blocks[1]["type"], "section");
  EXPECT_EQ(blocks[1]["text"]["type"], "mrkdwn");
  std::vector<std::string> fields;
  for (const json& f : blocks[1]["fields"]) fields.push_back(f["text"]);
  EXPECT_THAT(fields, ::testing::ElementsAre("*Severity*\ncritical", "*Environment*\nproduction",
                                             "*Since*\n2026-12-07T14:00:00.123Z",
                                             "*Service*\nbackend"));
  EXPECT_EQ(blocks[2]["type"], "actions");
  EXPECT_EQ(blocks[2]["elements"][0]["type"], "button");
  EXPECT_EQ(blocks[2]["elements"][0]["text"]["text"], "Runbook");
  EXPECT_EQ(blocks[2]["elements"][0]["url"], "https://git.example.com/runbooks/high-error-rate.md");
}

TEST(SlackTest, AResolvedAlertSaysSoAndARunbookPathIsTextNotAButton) {
  ReceivedAlert a = Alert(false);
  a.generator_url.clear();
  const json m = SlackMessage("production", a);
  EXPECT_EQ(m["blocks"][0]["text"]["text"], "Resolved: HighErrorRate (backend)");
  EXPECT_EQ(m["blocks"].back()["type"], "context");
  EXPECT_EQ(m["blocks"].back()["elements"][0]["text"], "Runbook: docs/runbooks/high-error-rate.md");
  a.labels["alertname"] = std::string(300, 'A');
  EXPECT_LE(SlackMessage("production", a)["blocks"][0]["text"]["text"].get<std::string>().size(),
            150u);
}

}  // namespace
}  // namespace hut::alerting
