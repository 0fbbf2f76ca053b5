// The alert outbox's throughput: alerts routed into the store (each with
// its notification, one transaction), then the dispatcher sending them all
// to a local PagerDuty receiver over HTTP and recording each delivery, on a
// SQLite store on disk (synchronous=FULL, as hut runs it). Prints medians of
// --rounds rounds (docs/benchmarks.md "Alerting"). Run by hand.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "src/alerting/dispatcher.h"
#include "src/alerting/router.h"
#include "src/common/log.h"
#include "src/common/secret.h"
#include "src/store/sqlite_store.h"
#include "testing/alert_receivers.h"
#include "testing/capture_log_sink.h"
#include "testing/test_env.h"

namespace {

using namespace hut;  // NOLINT(google-build-using-namespace): a benchmark's main
using Steady = std::chrono::steady_clock;

constexpr char kKey[] = "BENCHR0UT1NGK3YBENCHR0UT1NGK3Y00";

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("outbox_bench: alerts routed and notifications delivered per second");
  int alerts = 1000, rounds = 5;
  app.add_option("--alerts", alerts, "alerts per round")->check(CLI::Range(1, 100'000));
  app.add_option("--rounds", rounds, "rounds")->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);

  RealClock clock;
  ::hut::testing::CaptureLogSink sink;
  auto receiver = ::hut::testing::PagerDutyReceiver::Start({kKey});
  if (!receiver.ok()) {
    std::fprintf(stderr, "receiver: %s\n", receiver.status().ToString().c_str());
    return 1;
  }
  std::vector<double> routed, delivered;
  for (int round = 0; round < rounds; ++round) {
    ::hut::testing::TempDir dir;
    auto store = store::SqliteStore::Open(dir.path() + "/hut.db", clock);
    if (!store.ok() || !WritePrivateFile(dir.path() + "/key", kKey).ok()) return 1;
    alerting::RouterOptions ro;
    ro.environment = "production";
    ro.pagerduty = true;
    alerting::AlertRouter router(**store, clock, Logger(sink, clock, "alerts"), ro, [] {});
    const auto t0 = Steady::now();
    for (int i = 0; i < alerts; ++i) {
      alerting::ReceivedAlert a;
      a.labels = {{"alertname", "HighErrorRate"}, {"severity", "critical"},
                  {"service", "backend"}, {"environment", "production"}};
      a.annotations = {{"summary", "bench"}};
      a.starts_at = clock.Now();
      a.fingerprint = absl::StrFormat("r%d-%d", round, i);
      alerting::WebhookNotification n;
      n.receiver = "hut-page";
      n.alerts = {a};
      if (!router.Receive(n).ok()) return 1;
    }
    const auto t1 = Steady::now();
    alerting::PagerDutyOptions po;
    po.events_url = (*receiver)->url();
    po.routing_key_files = {{"", dir.path() + "/key"}};
    alerting::PagerDutyNotifier pd(po);
    alerting::DispatcherOptions dopt;
    dopt.environment = "production";
    alerting::Dispatcher dispatcher(**store, clock, Logger(sink, clock, "notify"),
                                    {{alerting::kPagerDuty, &pd}}, dopt);
    while (dispatcher.RunOnce(clock.Now()) != TimePoint::max()) {
    }
    const auto t2 = Steady::now();
    if (dispatcher.counts().delivered != static_cast<uint64_t>(alerts)) {
      std::fprintf(stderr, "delivered %llu of %d\n",
                   static_cast<unsigned long long>(dispatcher.counts().delivered), alerts);
      return 1;
    }
    routed.push_back(alerts / std::chrono::duration<double>(t1 - t0).count());
    delivered.push_back(alerts / std::chrono::duration<double>(t2 - t1).count());
    std::printf("round %d: %.0f alerts/s routed, %.0f notifications/s delivered\n", round + 1,
                routed.back(), delivered.back());
  }
  std::printf("median of %d rounds of %d: %.0f alerts/s routed (alert + notification + event "
              "per transaction), %.0f notifications/s delivered (HTTP POST + record)\n",
              rounds, alerts, Median(routed), Median(delivered));
  std::printf("receiver took %zu, refused %zu\n", (*receiver)->taken().size(),
              (*receiver)->problems().size());
  return 0;
}
