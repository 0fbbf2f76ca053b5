// The router on a fake clock: what each severity queues, deadlines and
// escalation, acknowledgement, business days and the daily digest.
#include "src/alerting/router.h"

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/alerting/alerting_test_util.h"

namespace hut::alerting {
namespace {

using ::testing::SizeIs;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

std::vector<store::Event> Events(store::Store& store, const std::string& type) {
  std::vector<store::Event> out;
  absl::StatusOr<std::vector<store::Event>> all = store.EventsAfter(0, 1000);
  EXPECT_TRUE(all.ok()) << all.status();
  if (!all.ok()) return out;
  for (const store::Event& e : *all) {
    if (e.type == type) out.push_back(e);
  }
  return out;
}

TEST(RouterTest, ACriticalAlertPagesOnceAndItsResolveClosesTheSameIncident) {
  RouterFixture f(Utc(2026, 12, 7, 14, 0));
  auto changed = f.router->Receive(Notify({MakeReceived("HighErrorRate", "critical", "fp1")}));
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(*changed, 1);
  EXPECT_EQ(f.kicks, 1);
  // Alertmanager repeats the group: nothing new.
  EXPECT_EQ(*f.router->Receive(Notify({MakeReceived("HighErrorRate", "critical", "fp1")})), 0);
  auto pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(1));
  const store::Notification page = pending[0];
  EXPECT_EQ(page.channel, "pagerduty");
  EXPECT_EQ(page.recipient, "");
  EXPECT_FALSE(page.message.contains("routing_key"));  // added when sent, never stored
  EXPECT_EQ(page.message["event_action"], "trigger");
  EXPECT_EQ(page.message["payload"]["severity"], "critical");
  EXPECT_EQ(page.message["links"][0]["href"], "https://git.example.com/hut/docs/runbooks/x.md");
  EXPECT_EQ(page.message["links"][1]["href"], "http://127.0.0.1:9090/graph?g0.expr=x");

  auto alerts = *f.store->ListAlerts({.environment = "production", .state = std::nullopt,
                                      .received_since = std::nullopt, .limit = 10});
  ASSERT_THAT(alerts, SizeIs(1));
  EXPECT_EQ(alerts[0].state, store::AlertState::kFiring);
  EXPECT_EQ(alerts[0].deadline, Utc(2026, 12, 7, 14, 5));  // critical: 5 minutes
  EXPECT_EQ(page.alert_id, alerts[0].id);

  f.clock.Advance(minutes(2));
  ReceivedAlert resolved = MakeReceived("HighErrorRate", "critical", "fp1", false);
  resolved.ends_at = f.clock.Now();
  EXPECT_EQ(*f.router->Receive(Notify({resolved})), 1);
  EXPECT_EQ(*f.router->Receive(Notify({resolved})), 0);  // a repeat again
  pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(2));
  EXPECT_EQ(pending[1].message["event_action"], "resolve");
  EXPECT_EQ(pending[1].message["dedup_key"], page.message["dedup_key"]);
  const store::Alert after = **f.store->GetAlert(alerts[0].id);
  EXPECT_EQ(after.state, store::AlertState::kResolved);
  EXPECT_EQ(after.resolved_at, f.clock.Now());
  EXPECT_FALSE(after.deadline.has_value());
  EXPECT_THAT(Events(*f.store, "alert.firing"), SizeIs(1));
  EXPECT_THAT(Events(*f.store, "alert.resolved"), SizeIs(1));

  // It fires again later: a new alert, paged again.
  f.clock.Advance(minutes(30));
  EXPECT_EQ(*f.router->Receive(Notify({MakeReceived("HighErrorRate", "critical", "fp1", true,
                                                    Utc(2026, 12, 7, 14, 30))})),
            1);
  EXPECT_THAT(f.Pending(), SizeIs(3));
}

TEST(RouterTest, AWarningGoesToChatAndAnInfoAlertOnlyToTheDigest) {
  RouterFixture f(Utc(2026, 12, 7, 14, 0));
  ASSERT_TRUE(f.router
                  ->Receive(Notify({MakeReceived("DiskFilling", "warning", "fp-w"),
                                    MakeReceived("CertificateRenewed", "info", "fp-i")}))
                  .ok());
  auto pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(1));
  EXPECT_EQ(pending[0].channel, "slack");
  EXPECT_EQ(pending[0].message["blocks"][0]["text"]["text"], "Firing: DiskFilling (backend)");
  ReceivedAlert resolved = MakeReceived("DiskFilling", "warning", "fp-w", false);
  ASSERT_TRUE(f.router->Receive(Notify({resolved, MakeReceived("CertificateRenewed", "info",
                                                               "fp-i", false)}))
                  .ok());
  pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(2));
  EXPECT_EQ(pending[1].channel, "slack");
  EXPECT_EQ(pending[1].message["blocks"][0]["text"]["text"], "Resolved: DiskFilling (backend)");
}

TEST(RouterTest, APageWithoutPagerDutyGoesToChatRatherThanNowhere) {
  RouterOptions o = RouterFixture::DefaultOptions();
  o.pagerduty = false;
  RouterFixture f(Utc(2026, 12, 7, 14, 0), o);
  ASSERT_TRUE(f.router->Receive(Notify({MakeReceived("ServiceDown", "critical", "fp1")})).ok());
  auto pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(1));
  EXPECT_EQ(pending[0].channel, "slack");
}

TEST(RouterTest, EachSeverityHasTheAdrResponseTime) {
  RouterFixture f(Utc(2026, 12, 7, 14, 0));  // a Monday, 15:00 in Berlin
  const std::vector<std::pair<std::string, std::optional<TimePoint>>> expected = {
      {"critical", Utc(2026, 12, 7, 14, 5)},
      {"high", Utc(2026, 12, 7, 14, 30)},
      {"medium", Utc(2026, 12, 7, 18, 0)},
      {"low", Utc(2026, 12, 8, 16, 0)},  // Tuesday 17:00 CET
      {"warning", std::nullopt},
      {"info", std::nullopt},
  };
  for (const auto& [severity, deadline] : expected) {
    ASSERT_TRUE(f.router->Receive(Notify({MakeReceived("A", severity, "fp-" + severity)})).ok());
    const store::Alert a = **f.store->OpenAlert("production", "fp-" + severity);
    EXPECT_EQ(a.deadline, deadline) << severity;
  }
}

TEST(RouterTest, AnUnacknowledgedAlertIsPagedAgainThenUpTheEscalationLevels) {
  RouterFixture f(Utc(2026, 12, 7, 14, 0));
  ASSERT_TRUE(f.router->Receive(Notify({MakeReceived("ServiceDown", "critical", "fp1")})).ok());
  const std::string base = f.Pending()[0].message["dedup_key"];
  // Nothing before the deadline; Tick says when to come back.
  f.clock.Advance(minutes(5) - milliseconds(1));
  EXPECT_EQ(f.router->Tick(f.clock.Now()), Utc(2026, 12, 7, 14, 5));
  EXPECT_THAT(f.Pending(), SizeIs(1));

  const std::vector<std::string> recipients = {"", "escalation-1", "escalation-2",
                                               "escalation-2"};
  for (size_t k = 1; k <= recipients.size(); ++k) {
    f.clock.Set(Utc(2026, 12, 7, 14, 5 * static_cast<int>(k)));
    const TimePoint next = f.router->Tick(f.clock.Now());
    EXPECT_EQ(next, f.clock.Now() + minutes(5)) << k;
    auto pending = f.Pending();
    ASSERT_THAT(pending, SizeIs(1 + k));
    const store::Notification& n = pending.back();
    EXPECT_EQ(n.channel, "pagerduty");
    EXPECT_EQ(n.recipient, recipients[k - 1]) << k;
    EXPECT_EQ(n.message["event_action"], "trigger");
    EXPECT_EQ(n.message["dedup_key"], absl::StrCat(base, "/escalation-", k));
    EXPECT_THAT(n.message["payload"]["summary"].get<std::string>(),
                ::testing::StartsWith(absl::StrCat("[not acknowledged, escalation ", k, "]")));
    EXPECT_EQ(f.router->Tick(f.clock.Now()), f.clock.Now() + minutes(5));  // once per deadline
    EXPECT_THAT(f.Pending(), SizeIs(1 + k));
  }
  auto escalated = Events(*f.store, "alert.escalated");
  ASSERT_THAT(escalated, SizeIs(4));
  EXPECT_EQ(escalated[1].data["to"], "pagerduty escalation-1");
  EXPECT_EQ(escalated[1].data["level"], 2);
}

TEST(RouterTest, AnAcknowledgementStopsTheEscalationAndAcknowledgesEveryIncident) {
  RouterFixture f(Utc(2026, 12, 7, 14, 0));
  ASSERT_TRUE(f.router->Receive(Notify({MakeReceived("ServiceDown", "critical", "fp1")})).ok());
  f.clock.Set(Utc(2026, 12, 7, 14, 5));
  f.router->Tick(f.clock.Now());  // escalation 1
  const int64_t id = (*f.store->OpenAlert("production", "fp1"))->id;
  auto acked = f.router->Acknowledge(id, "ada");
  ASSERT_TRUE(acked.ok()) << acked.status();
  EXPECT_EQ(acked->state, store::AlertState::kAcked);
  EXPECT_EQ(acked->acked_by, "ada");
  EXPECT_FALSE(acked->deadline.has_value());
  auto pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(4));  // trigger, escalation, two acknowledges
  const std::string base = pending[0].message["dedup_key"];
  EXPECT_EQ(pending[2].message, nlohmann::json({{"event_action", "acknowledge"},
                                                {"dedup_key", base}}));
  EXPECT_EQ(pending[3].message["dedup_key"], base + "/escalation-1");
  EXPECT_EQ(pending[3].message["event_action"], "acknowledge");
  // Long past every deadline: no more pages.
  f.clock.Advance(hours(3));
  f.router->Tick(f.clock.Now());
  EXPECT_THAT(f.Pending(), SizeIs(4));
  EXPECT_THAT(Events(*f.store, "alert.escalated"), SizeIs(1));
  // Twice is the same; unknown and resolved alerts are refused.
  EXPECT_EQ(f.router->Acknowledge(id, "bob")->acked_by, "ada");
  EXPECT_EQ(f.router->Acknowledge(999, "bob").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(
      f.router->Receive(Notify({MakeReceived("ServiceDown", "critical", "fp1", false)})).ok());
  EXPECT_EQ(f.router->Acknowledge(id, "bob").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The resolve closes both incidents.
  pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(6));
  EXPECT_EQ(pending[4].message["event_action"], "resolve");
  EXPECT_EQ(pending[5].message["dedup_key"], base + "/escalation-1");
}

TEST(RouterTest, HutsOwnRollbacksAndFailuresAreAlertsToo) {
  RouterFixture f(Utc(2026, 12, 7, 14, 0));
  const auto event = [&](const std::string& type, int64_t rollout) {
    store::Event e;
    e.environment = "production";
    e.service = "backend";
    e.rollout_id = rollout;
    e.type = type;
    e.message = absl::StrCat("rollout ", rollout, ": ", type);
    ASSERT_TRUE(f.store->AppendEvent(e).ok());
  };
  event("rollout.rolled-back", 3);
  event("rollout.failed", 4);
  f.router->Tick(f.clock.Now());
  auto pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(2));
  EXPECT_EQ(pending[0].channel, "slack");  // the rollback: a warning, told once
  EXPECT_EQ(pending[0].message["blocks"][0]["text"]["text"], "Firing: RolloutRolledBack (backend)");
  EXPECT_EQ(pending[1].channel, "pagerduty");  // the failure: high, paged
  EXPECT_EQ(pending[1].message["payload"]["severity"], "error");
  auto open = *f.store->ListAlerts({.environment = "production", .state = store::AlertState::kFiring,
                                    .received_since = std::nullopt, .limit = 10});
  ASSERT_THAT(open, SizeIs(1));
  EXPECT_EQ(open[0].name, "RolloutFailed");
  // Ticking again raises nothing new; a later success resolves the failure.
  f.router->Tick(f.clock.Now());
  EXPECT_THAT(f.Pending(), SizeIs(2));
  event("rollout.succeeded", 5);
  f.router->Tick(f.clock.Now());
  pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(3));
  EXPECT_EQ(pending[2].message["event_action"], "resolve");
  EXPECT_EQ(pending[2].message["dedup_key"], pending[1].message["dedup_key"]);
}

TEST(RouterTest, AFailedSecretRotationPagesUntilARotationFinishes) {
  RouterFixture f(Utc(2026, 12, 7, 14, 0));
  const auto event = [&](const std::string& type) {
    store::Event e;
    e.environment = "production";
    e.type = type;
    e.message = absl::StrCat("rotation of jwt: ", type);
    e.data = {{"secret", "jwt"}, {"kid", "hut-1"}};
    ASSERT_TRUE(f.store->AppendEvent(e).ok());
  };
  event("secret.rotation-failed");
  f.router->Tick(f.clock.Now());
  auto pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(1));
  EXPECT_EQ(pending[0].channel, "pagerduty");
  EXPECT_EQ(pending[0].message["event_action"], "trigger");
  EXPECT_THAT(pending[0].message.dump(), ::testing::HasSubstr("secret-rotation-failed.md"));  // the runbook
  event("secret.rotation-finished");
  f.router->Tick(f.clock.Now());
  pending = f.Pending();
  ASSERT_THAT(pending, SizeIs(2));
  EXPECT_EQ(pending[1].message["event_action"], "resolve");
  EXPECT_EQ(pending[1].message["dedup_key"], pending[0].message["dedup_key"]);
}

TEST(RouterTest, NextBusinessDaySkipsWeekendsHolidaysAndKeepsLocalTimeAcrossDst) {
  struct Case {
    TimePoint received;
    TimePoint due;
    const char* why;
  };
  const Case cases[] = {
      {Utc(2026, 12, 4, 14), Utc(2026, 12, 7, 16), "Friday -> Monday 17:00 CET"},
      {Utc(2026, 12, 5, 10), Utc(2026, 12, 7, 16), "Saturday -> Monday"},
      {Utc(2026, 12, 24, 14), Utc(2026, 12, 28, 16), "Thursday before Christmas -> Monday"},
      {Utc(2026, 3, 27, 9), Utc(2026, 3, 30, 15), "Friday CET -> Monday 17:00 CEST"},
      {Utc(2026, 10, 23, 9), Utc(2026, 10, 26, 16), "Friday CEST -> Monday 17:00 CET"},
  };
  for (const Case& c : cases) {
    RouterFixture f(c.received);
    ASSERT_TRUE(f.router->Receive(Notify({MakeReceived("Slow", "low", "fp")})).ok());
    const store::Alert a = **f.store->OpenAlert("production", "fp");
    EXPECT_EQ(a.deadline, c.due) << c.why;
    // Escalated at that time, and not before.
    f.clock.Set(c.due - milliseconds(1));
    f.router->Tick(f.clock.Now());
    EXPECT_THAT(Events(*f.store, "alert.escalated"), SizeIs(0)) << c.why;
    f.clock.Set(c.due);
    f.router->Tick(f.clock.Now());
    EXPECT_THAT(Events(*f.store, "alert.escalated"), SizeIs(1)) << c.why;
  }
}

TEST(RouterTest, TheDigestIsSentOnceADayAt0900LocalAcrossDstAndListsTheDaysInfoAlerts) {
  RouterFixture f(Utc(2026, 3, 26, 12));  // Thursday; Berlin springs forward on Sunday 29th
  std::vector<TimePoint> sent;
  for (int day = 0; day < 6; ++day) {
    // Two info alerts and a warning each day, at 12:00 UTC.
    f.clock.Set(Utc(2026, 3, 26 + day, 12));
    const std::string d = std::to_string(day);
    ASSERT_TRUE(f.router
                    ->Receive(Notify({MakeReceived("Info" + d, "info", "fi" + d),
                                      MakeReceived("Info" + d + "b", "info", "fj" + d),
                                      MakeReceived("Warn" + d, "warning", "fw" + d)}))
                    .ok());
    // Tick as a server would, at each time it asks for, until the next noon.
    const TimePoint noon = Utc(2026, 3, 27 + day, 12);
    while (f.clock.Now() < noon) {
      const size_t before = f.Pending().size();
      const TimePoint next = std::min(f.router->Tick(f.clock.Now()), noon);
      if (f.Pending().size() > before) sent.push_back(f.clock.Now());
      f.clock.Set(std::max(next, f.clock.Now() + milliseconds(1)));
    }
  }
  // 09:00 CET is 08:00 UTC; from Sunday 29th 09:00 CEST is 07:00 UTC.
  EXPECT_EQ(sent, (std::vector<TimePoint>{Utc(2026, 3, 27, 8), Utc(2026, 3, 28, 8),
                                          Utc(2026, 3, 29, 7), Utc(2026, 3, 30, 7),
                                          Utc(2026, 3, 31, 7), Utc(2026, 4, 1, 7)}));
  std::vector<store::Notification> digests;
  for (const store::Notification& n : f.Pending()) {
    if (n.key.find("/digest/") != std::string::npos) digests.push_back(n);
  }
  ASSERT_THAT(digests, SizeIs(6));
  EXPECT_EQ(digests[0].key, "hut/production/digest/2026-03-27");
  EXPECT_EQ(digests[0].channel, "slack");
  const std::string title = digests[0].message["text"];
  EXPECT_EQ(title, "Daily digest, production, 2026-03-27: 2 info alerts");
  const std::string lines = digests[0].message["blocks"][1]["text"]["text"];
  EXPECT_THAT(lines, ::testing::HasSubstr("*Info0* (backend)"));
  EXPECT_THAT(lines, ::testing::HasSubstr("*Info0b* (backend)"));
  EXPECT_THAT(lines, ::testing::Not(::testing::HasSubstr("Warn0")));
  EXPECT_THAT(lines, ::testing::Not(::testing::HasSubstr("Info1")));  // the next day's
  EXPECT_THAT(Events(*f.store, "alert.digest"), SizeIs(6));

  // A restart just after 09:00 does not send the day's digest twice.
  f.clock.Set(Utc(2026, 4, 1, 7, 10));
  AlertRouter again(*f.store, f.clock, Logger(f.sink, f.clock, "alerts"),
                    RouterFixture::DefaultOptions(), [] {});
  again.Tick(f.clock.Now());
  EXPECT_THAT(Events(*f.store, "alert.digest"), SizeIs(6));
}

}  // namespace
}  // namespace hut::alerting
