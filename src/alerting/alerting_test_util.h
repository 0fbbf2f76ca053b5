#ifndef HUT_ALERTING_ALERTING_TEST_UTIL_H_
#define HUT_ALERTING_ALERTING_TEST_UTIL_H_

// What the alerting tests share: alerts as Alertmanager sends them, and a
// router on a fresh store. Tests only.

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/alerting/router.h"
#include "src/common/log.h"
#include "src/store/sqlite_store.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"

namespace hut::alerting {

// A UTC instant.
inline TimePoint Utc(int y, int mo, int d, int h, int mi = 0) {
  return absl::ToChronoTime(absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone()));
}

inline ReceivedAlert MakeReceived(const std::string& name, const std::string& severity,
                                  const std::string& fingerprint, bool firing = true,
                                  TimePoint starts_at = Utc(2026, 12, 7, 14)) {
  ReceivedAlert a;
  a.firing = firing;
  a.labels = {{"alertname", name},
              {"environment", "production"},
              {"service", "backend"},
              {"severity", severity}};
  a.annotations = {{"summary", absl::StrCat(name, " on backend")},
                   {"runbook_url", "https://git.example.com/hut/docs/runbooks/x.md"}};
  a.starts_at = starts_at;
  a.generator_url = "http://127.0.0.1:9090/graph?g0.expr=x";
  a.fingerprint = fingerprint;
  return a;
}

inline WebhookNotification Notify(std::vector<ReceivedAlert> alerts) {
  WebhookNotification n;
  n.receiver = "hut-page";
  n.alerts = std::move(alerts);
  return n;
}

// A router for environment "production" on an in-memory store.
struct RouterFixture {
  explicit RouterFixture(TimePoint start, RouterOptions options = DefaultOptions())
      : clock(start),
        store(*store::SqliteStore::Open(":memory:", clock)),
        router(std::make_unique<AlertRouter>(*store, clock, Logger(sink, clock, "alerts"),
                                             std::move(options), [this] { ++kicks; })) {}

  static RouterOptions DefaultOptions() {
    RouterOptions o;
    o.environment = "production";
    o.pagerduty = true;
    o.slack = true;
    o.policy.escalation = {"secondary.key", "manager.key"};
    o.calendar = *MakeBusinessCalendar("Europe/Berlin", {"saturday", "sunday"},
                                       {"2026-12-25", "2026-12-26"}, "17:00");
    absl::LoadTimeZone("Europe/Berlin", &o.digest_zone);
    return o;
  }

  std::vector<store::Notification> Pending() {
    auto p = store->PendingNotifications("production", 1000);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : std::vector<store::Notification>{};
  }

  testing::FakeClock clock;
  testing::CaptureLogSink sink;
  std::unique_ptr<store::SqliteStore> store;
  int kicks = 0;
  std::unique_ptr<AlertRouter> router;
};

}  // namespace hut::alerting

#endif  // HUT_ALERTING_ALERTING_TEST_UTIL_H_
