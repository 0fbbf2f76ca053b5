// The outbox sent through the real notifiers to local receivers that check
// PagerDuty's and Slack's wire formats: delivery, order, retries, refusals,
// and a lost answer sent again under the same dedup_key.
#include "src/alerting/dispatcher.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/alerting/alerting_test_util.h"
#include "src/common/secret.h"
#include "testing/alert_receivers.h"
#include "testing/test_env.h"

namespace hut::alerting {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr char kPrimaryKey[] = "R0UT1NGK3YR0UT1NGK3YR0UT1NGK3Y01";
constexpr char kSecondaryKey[] = "R0UT1NGK3YR0UT1NGK3YR0UT1NGK3Y02";

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pd = testing::PagerDutyReceiver::Start({kPrimaryKey, kSecondaryKey});
    ASSERT_TRUE(pd.ok()) << pd.status();
    pagerduty_ = std::move(*pd);
    auto slack = testing::SlackReceiver::Start();
    ASSERT_TRUE(slack.ok()) << slack.status();
    slack_ = std::move(*slack);
    ASSERT_TRUE(WritePrivateFile(dir_.path() + "/primary.key", std::string(kPrimaryKey) + "\n").ok());
    ASSERT_TRUE(WritePrivateFile(dir_.path() + "/secondary.key", kSecondaryKey).ok());
    ASSERT_TRUE(WritePrivateFile(dir_.path() + "/slack.url", slack_->url()).ok());
    PagerDutyOptions po;
    po.events_url = pagerduty_->url();
    po.routing_key_files = {{"", dir_.path() + "/primary.key"},
                            {"escalation-1", dir_.path() + "/secondary.key"},
                            {"escalation-2", dir_.path() + "/missing.key"}};
    po.timeout = std::chrono::seconds(5);
    pd_notifier_ = std::make_unique<PagerDutyNotifier>(po);
    SlackOptions so;
    so.webhook_url_file = dir_.path() + "/slack.url";
    slack_notifier_ = std::make_unique<SlackNotifier>(so);
  }

  std::unique_ptr<Dispatcher> MakeDispatcher(
      std::map<std::string, Notifier*> notifiers = {}) {
    if (notifiers.empty()) {
      notifiers = {{kPagerDuty, pd_notifier_.get()}, {kSlack, slack_notifier_.get()}};
    }
    DispatcherOptions o;
    o.environment = "production";
    return std::make_unique<Dispatcher>(*f_.store, f_.clock, Logger(f_.sink, f_.clock, "dispatch"),
                                        std::move(notifiers), o);
  }

  // Runs rounds on the fake clock, jumping to each next due time, for `span`
  // simulated time; returns the rounds run.
  int RunFor(Dispatcher& d, Duration span) {
    const TimePoint end = f_.clock.Now() + span;
    int rounds = 0;
    while (f_.clock.Now() <= end) {
      const TimePoint next = d.RunOnce(f_.clock.Now());
      ++rounds;
      if (next == TimePoint::max() || next > end) break;
      f_.clock.Set(std::max(next, f_.clock.Now()));
    }
    return rounds;
  }

  testing::TempDir dir_;
  RouterFixture f_{Utc(2026, 12, 7, 14)};
  std::unique_ptr<testing::PagerDutyReceiver> pagerduty_;
  std::unique_ptr<testing::SlackReceiver> slack_;
  std::unique_ptr<PagerDutyNotifier> pd_notifier_;
  std::unique_ptr<SlackNotifier> slack_notifier_;
};

TEST_F(DispatcherTest, EachChannelsReceiverTakesWhatHutSendsInItsFormat) {
  ASSERT_TRUE(f_.router
                  ->Receive(Notify({MakeReceived("HighErrorRate", "critical", "fp1"),
                                    MakeReceived("DiskFilling", "warning", "fp2")}))
                  .ok());
  auto d = MakeDispatcher();
  EXPECT_EQ(d->RunOnce(f_.clock.Now()), TimePoint::max());
  EXPECT_THAT(pagerduty_->problems(), IsEmpty());
  EXPECT_THAT(slack_->problems(), IsEmpty());
  ASSERT_THAT(pagerduty_->taken(), SizeIs(1));
  const nlohmann::json e = pagerduty_->taken()[0];
  EXPECT_EQ(e["routing_key"], kPrimaryKey);  // from the file, trimmed
  EXPECT_EQ(e["payload"]["severity"], "critical");
  EXPECT_EQ(e["links"][0]["href"], "https://git.example.com/hut/docs/runbooks/x.md");
  ASSERT_THAT(slack_->taken(), SizeIs(1));
  EXPECT_EQ(slack_->taken()[0]["blocks"][0]["text"]["text"], "Firing: DiskFilling (backend)");
  EXPECT_THAT(f_.Pending(), IsEmpty());
  EXPECT_EQ(d->counts().delivered, 2u);

  // Resolved: the same incident.
  ASSERT_TRUE(f_.router->Receive(Notify({MakeReceived("HighErrorRate", "critical", "fp1", false)})).ok());
  d->RunOnce(f_.clock.Now());
  ASSERT_THAT(pagerduty_->taken(), SizeIs(2));
  EXPECT_EQ(pagerduty_->taken()[1]["dedup_key"], e["dedup_key"]);
  auto incidents = pagerduty_->incidents();
  ASSERT_THAT(incidents, SizeIs(1));
  EXPECT_EQ(incidents.begin()->second.status, "resolved");
}

TEST_F(DispatcherTest, AReceiverDownForTenMinutesGetsEveryNotificationOnceInOrder) {
  pagerduty_->Fail(503);
  auto d = MakeDispatcher();
  std::vector<std::string> queued;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(f_.router
                    ->Receive(Notify({MakeReceived("ServiceDown", "critical",
                                                   "fp" + std::to_string(i))}))
                    .ok());
    queued.push_back(f_.Pending().back().message["dedup_key"]);
    d->RunOnce(f_.clock.Now());
    f_.clock.Advance(seconds(10));
  }
  // Down for ten minutes in all (half of it answering 503, half refusing connections).
  RunFor(*d, minutes(5) - seconds(200));
  pagerduty_->Stop();
  RunFor(*d, minutes(5));
  EXPECT_THAT(pagerduty_->taken(), IsEmpty());
  const int attempts_while_down = pagerduty_->requests();
  // Only the oldest was retried, backing off to at most every 30 s.
  EXPECT_GT(attempts_while_down, 5);
  EXPECT_LT(attempts_while_down, 40);
  ASSERT_TRUE(pagerduty_->Restart().ok());
  pagerduty_->Fail(0);
  RunFor(*d, minutes(1));
  std::vector<std::string> got;
  for (const nlohmann::json& e : pagerduty_->taken()) got.push_back(e["dedup_key"]);
  EXPECT_EQ(got, queued);
  EXPECT_THAT(pagerduty_->problems(), IsEmpty());
  EXPECT_THAT(f_.Pending(), IsEmpty());
  EXPECT_EQ(d->counts().delivered, 20u);
}

TEST_F(DispatcherTest, RetryAfterIsHonouredAndOtherLanesGoOn) {
  pagerduty_->Fail(429, 7);
  ASSERT_TRUE(f_.router
                  ->Receive(Notify({MakeReceived("ServiceDown", "critical", "fp1"),
                                    MakeReceived("DiskFilling", "warning", "fp2")}))
                  .ok());
  auto d = MakeDispatcher();
  EXPECT_EQ(d->RunOnce(f_.clock.Now()), f_.clock.Now() + seconds(7));
  EXPECT_THAT(slack_->taken(), SizeIs(1));  // Slack's lane does not wait for PagerDuty's
  auto pending = f_.Pending();
  ASSERT_THAT(pending, SizeIs(1));
  EXPECT_EQ(pending[0].attempts, 1);
  EXPECT_THAT(pending[0].last_error, ::testing::StartsWith("429"));
  pagerduty_->Fail(0);
  f_.clock.Advance(seconds(7));
  d->RunOnce(f_.clock.Now());
  EXPECT_THAT(pagerduty_->taken(), SizeIs(1));
}

TEST_F(DispatcherTest, ARefusedNotificationIsRecordedAndTheOnesBehindItGoOn) {
  ASSERT_TRUE(WritePrivateFile(dir_.path() + "/primary.key", "NOT-A-KEY-OF-THIS-ACCOUNT-000000").ok());
  ASSERT_TRUE(f_.router->Receive(Notify({MakeReceived("ServiceDown", "critical", "fp1")})).ok());
  auto d = MakeDispatcher();
  d->RunOnce(f_.clock.Now());
  EXPECT_THAT(f_.Pending(), IsEmpty());  // not retried forever
  EXPECT_EQ(d->counts().refused, 1u);
  const auto events = *f_.store->EventsAfter(0, 100);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "alert.notification-refused");
  EXPECT_THAT(events.back().message, ::testing::HasSubstr("routing_key"));
  ASSERT_TRUE(WritePrivateFile(dir_.path() + "/primary.key", kPrimaryKey).ok());
  ASSERT_TRUE(f_.router->Receive(Notify({MakeReceived("ServiceDown", "critical", "fp2")})).ok());
  d->RunOnce(f_.clock.Now());
  EXPECT_THAT(pagerduty_->taken(), SizeIs(1));
}

TEST_F(DispatcherTest, AMissingSecretKeepsTheNotificationUntilItIsThere) {
  ASSERT_TRUE(f_.router->Receive(Notify({MakeReceived("ServiceDown", "critical", "fp1")})).ok());
  PagerDutyOptions po;
  po.events_url = pagerduty_->url();
  po.routing_key_files = {{"", dir_.path() + "/later.key"}};
  PagerDutyNotifier later(po);
  auto d = MakeDispatcher({{kPagerDuty, &later}});
  d->RunOnce(f_.clock.Now());
  auto pending = f_.Pending();
  ASSERT_THAT(pending, SizeIs(1));
  EXPECT_THAT(pending[0].last_error, ::testing::HasSubstr("later.key"));
  ASSERT_TRUE(WritePrivateFile(dir_.path() + "/later.key", kPrimaryKey).ok());
  RunFor(*d, seconds(5));
  EXPECT_THAT(pagerduty_->taken(), SizeIs(1));
}

// Sends through the real notifier, then loses the answer: the receiver took
// it, hut does not know (as when hut is killed between send and record).
class LosesAnswers final : public Notifier {
 public:
  explicit LosesAnswers(Notifier& inner) : inner_(inner) {}
  Delivery Send(const store::Notification& n) override {
    inner_.Send(n);
    return {Delivery::Outcome::kRetry, "connection reset after the request was sent",
            std::nullopt};
  }

 private:
  Notifier& inner_;
};

TEST_F(DispatcherTest, AnAnswerLostAfterSendingIsSentAgainAndTheReceiverSeesOneIncident) {
  ASSERT_TRUE(f_.router->Receive(Notify({MakeReceived("ServiceDown", "critical", "fp1")})).ok());
  {
    LosesAnswers lossy(*pd_notifier_);
    auto crashed = MakeDispatcher({{kPagerDuty, &lossy}});
    crashed->RunOnce(f_.clock.Now());
  }
  // A restarted hut on the same store.
  auto d = MakeDispatcher();
  RunFor(*d, seconds(5));
  EXPECT_THAT(f_.Pending(), IsEmpty());
  ASSERT_THAT(pagerduty_->taken(), SizeIs(2));
  EXPECT_EQ(pagerduty_->taken()[0], pagerduty_->taken()[1]);  // the same event, same dedup_key
  auto incidents = pagerduty_->incidents();
  ASSERT_THAT(incidents, SizeIs(1));
  EXPECT_EQ(incidents.begin()->second.triggers, 2);
  EXPECT_EQ(incidents.begin()->second.status, "triggered");
}

TEST_F(DispatcherTest, EscalationsGoToTheirLevelsRoutingKeys) {
  ASSERT_TRUE(f_.router->Receive(Notify({MakeReceived("ServiceDown", "critical", "fp1")})).ok());
  auto d = MakeDispatcher();
  for (int k = 1; k <= 2; ++k) {
    f_.clock.Advance(minutes(5));
    f_.router->Tick(f_.clock.Now());
  }
  d->RunOnce(f_.clock.Now());
  ASSERT_THAT(pagerduty_->taken(), SizeIs(3));
  EXPECT_EQ(pagerduty_->taken()[1]["routing_key"], kPrimaryKey);    // paged again
  EXPECT_EQ(pagerduty_->taken()[2]["routing_key"], kSecondaryKey);  // the next level
  EXPECT_THAT(pagerduty_->incidents(), SizeIs(3));
}

TEST(ReceiverFormatTest, TheReceiversRefuseWhatTheServicesRefuse) {
  using testing::PagerDutyEventProblems;
  using testing::SlackMessageProblems;
  EXPECT_THAT(PagerDutyEventProblems({{"routing_key", kPrimaryKey}, {"event_action", "trigger"}}),
              ::testing::Contains("payload: required for trigger"));
  EXPECT_THAT(PagerDutyEventProblems({{"routing_key", kPrimaryKey}, {"event_action", "resolve"}}),
              ::testing::Contains("dedup_key: required for resolve"));
  nlohmann::json bad_severity = {
      {"routing_key", kPrimaryKey},
      {"event_action", "trigger"},
      {"payload", {{"summary", "x"}, {"source", "y"}, {"severity", "high"}}}};
  EXPECT_THAT(PagerDutyEventProblems(bad_severity),
              ::testing::Contains(::testing::HasSubstr("payload.severity")));
  EXPECT_THAT(SlackMessageProblems({{"blocks", {{{"type", "header"},
                                                 {"text", {{"type", "mrkdwn"}, {"text", "x"}}}}}}}),
              ::testing::Contains(::testing::HasSubstr("expected plain_text")));
  EXPECT_THAT(SlackMessageProblems(nlohmann::json::object()), ::testing::Contains("no text and no blocks"));
}

}  // namespace
}  // namespace hut::alerting
