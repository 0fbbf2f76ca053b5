#include "src/telemetry/control_plane_metrics.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/store/open.h"
#include "src/telemetry/metered.h"
#include "testing/exposition.h"
#include "testing/fake_clock.h"

namespace hut::telemetry {
namespace {

using std::chrono::seconds;

using ::hut::testing::SampleSum;

class ControlPlaneMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenStore(":memory:", clock_);
    ASSERT_TRUE(opened.ok()) << opened.status();
    inner_ = std::move(*opened);
    store_ = std::make_unique<MeteredStore>(*inner_, metrics_);
  }

  store::Event Event(const std::string& type, int64_t rollout_id) {
    store::Event e;
    e.at = clock_.Now();
    e.environment = "staging";
    e.service = "backend";
    e.rollout_id = rollout_id;
    e.type = type;
    e.message = type;
    return e;
  }

  // Saves `r` as the controller does: updated_at now, finished_at too when it ends.
  void Save(store::Rollout& r, store::RolloutPhase phase, bool finish,
            std::vector<store::Event> events = {}) {
    r.phase = phase;
    r.updated_at = clock_.Now();
    if (finish && !r.finished_at) r.finished_at = r.updated_at;
    auto saved = store_->UpdateRolloutWithEvents(r, {}, std::move(events));
    ASSERT_TRUE(saved.ok()) << saved.status();
    ++r.version;
  }

  testing::FakeClock clock_;
  ControlPlaneMetrics metrics_{"staging", "0.9.0"};
  std::unique_ptr<store::Store> inner_;
  std::unique_ptr<MeteredStore> store_;
};

TEST_F(ControlPlaneMetricsTest, ARollbackIsCountedOnceWithItsTimeFromTheTrigger) {
  store::Rollout r;
  r.environment = "staging";
  r.service = "backend";
  r.to_revision = 2;
  r.strategy = spec::Strategy::kCanary;
  r.created_at = r.updated_at = clock_.Now();
  auto created = store_->CreateRolloutWithEvents(r, {Event("rollout.started", 0)});
  ASSERT_TRUE(created.ok()) << created.status();
  r = created->rollout;

  clock_.Advance(seconds(30));
  Save(r, store::RolloutPhase::kAnalysing, false, {Event("analysis.rollback", r.id)});
  Save(r, store::RolloutPhase::kRollingBack, false, {Event("rollout.rolling-back", r.id)});
  clock_.Advance(seconds(3));
  Save(r, store::RolloutPhase::kRolledBack, true, {Event("rollout.rolled-back", r.id)});
  clock_.Advance(seconds(1));
  Save(r, store::RolloutPhase::kRolledBack, true);  // written again, still finished

  const std::string text = metrics_.Serialize();
  const std::map<std::string, std::string> rolled_back = {
      {"environment", "staging"}, {"service", "backend"}, {"strategy", "canary"},
      {"result", "rolled-back"}};
  EXPECT_EQ(SampleSum(text, "hut_rollouts_total", rolled_back), 1) << text;
  EXPECT_EQ(SampleSum(text, "hut_rollouts_total", {{"result", "succeeded"}}), 0);
  EXPECT_EQ(SampleSum(text, "hut_rollout_duration_seconds_sum", rolled_back), 33);
  EXPECT_EQ(SampleSum(text, "hut_rollback_seconds_count", {{"service", "backend"}}), 1);
  EXPECT_EQ(SampleSum(text, "hut_rollback_seconds_sum", {{"service", "backend"}}), 3);
  EXPECT_EQ(SampleSum(text, "hut_rollout_phase", {{"phase", "rolled-back"}}), 1);
  EXPECT_EQ(SampleSum(text, "hut_rollout_phase", {{"service", "backend"}}), 1);
  EXPECT_EQ(SampleSum(text, "hut_analysis_verdicts_total", {{"verdict", "rollback"}}), 1);
  EXPECT_EQ(SampleSum(text, "hut_events_total", {{"type", "rollout.started"}}), 1);
  EXPECT_EQ(SampleSum(text, "hut_store_call_seconds_count", {{"operation", "update_rollout"}}), 4);
  EXPECT_EQ(SampleSum(text, "hut_build_info", {{"version", "0.9.0"}}), 1);
}

TEST_F(ControlPlaneMetricsTest, AFailedStoreCallIsCountedAndChangesNoRolloutSeries) {
  store::Rollout unknown;
  unknown.id = 42;
  unknown.environment = "staging";
  unknown.service = "backend";
  unknown.version = 1;
  unknown.phase = store::RolloutPhase::kSucceeded;
  unknown.updated_at = clock_.Now();
  unknown.finished_at = unknown.updated_at;
  EXPECT_FALSE(store_->UpdateRollout(unknown).ok());
  ASSERT_TRUE(store_->GetRollout(42).ok());

  const std::string text = metrics_.Serialize();
  EXPECT_EQ(SampleSum(text, "hut_store_errors_total", {{"operation", "update_rollout"}}), 1) << text;
  EXPECT_EQ(SampleSum(text, "hut_store_errors_total", {{"operation", "get_rollout"}}), 0);
  EXPECT_EQ(SampleSum(text, "hut_store_call_seconds_count", {{"operation", "get_rollout"}}), 1);
  EXPECT_EQ(SampleSum(text, "hut_rollouts_total", {}), 0);
}

TEST_F(ControlPlaneMetricsTest, ARolloutReadAtStartSetsItsPhaseButCountsNothing) {
  store::Rollout r;
  r.service = "frontend";
  r.phase = store::RolloutPhase::kSucceeded;
  r.created_at = r.updated_at = clock_.Now();
  r.finished_at = r.updated_at;
  metrics_.ObserveRollout(r, /*written=*/false);
  metrics_.ObserveTick("frontend", std::chrono::milliseconds(3), false);

  const std::string text = metrics_.Serialize();
  EXPECT_EQ(SampleSum(text, "hut_rollout_phase", {{"service", "frontend"}, {"phase", "succeeded"}}),
            1);
  EXPECT_EQ(SampleSum(text, "hut_rollouts_total", {}), 0);
  EXPECT_EQ(SampleSum(text, "hut_reconcile_errors_total", {{"service", "frontend"}}), 1);
  EXPECT_EQ(SampleSum(text, "hut_reconcile_tick_seconds_sum", {{"service", "frontend"}}), 0.003);
}

}  // namespace
}  // namespace hut::telemetry

namespace hut::telemetry {
namespace {

TEST(ControlPlaneMetricsCountersTest, CountersReadFromAnotherPartAreServedAtEachScrape) {
  ControlPlaneMetrics metrics("staging", "0.9.0");
  uint64_t stored = 5;
  metrics.ReadCountersWith("hut_log_lines_total", "Log lines", "result",
                           [&] { return std::map<std::string, uint64_t>{{"stored", stored}, {"dropped", 1}}; });
  std::string text = metrics.Serialize();
  EXPECT_EQ(::hut::testing::SampleSum(text, "hut_log_lines_total", {{"result", "stored"}}), 5);
  EXPECT_EQ(::hut::testing::SampleSum(text, "hut_log_lines_total", {{"result", "dropped"}}), 1);
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE hut_log_lines_total counter"));
  stored = 7;
  EXPECT_EQ(::hut::testing::SampleSum(metrics.Serialize(), "hut_log_lines_total", {{"result", "stored"}}), 7);
}

TEST(ControlPlaneMetricsCountersTest, GaugeFamiliesFromAnotherPartCarryTheEnvironment) {
  ControlPlaneMetrics metrics("staging", "0.9.0");
  double memory = 1024;
  metrics.ReadFamiliesWith([&] {
    return std::vector<ControlPlaneMetrics::SeriesFamily>{
        {.name = "hut_replica_resident_memory_bytes",
         .help = "Resident memory",
         .counter = false,
         .series = {{.labels = {{"service", "backend"}, {"replica", "backend-r1-a"}},
                     .value = memory}}}};
  });
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE hut_replica_resident_memory_bytes gauge"));
  EXPECT_THAT(text, ::testing::HasSubstr(
                        "hut_replica_resident_memory_bytes{environment=\"staging\",replica="
                        "\"backend-r1-a\",service=\"backend\"} 1024"));
  memory = 2048;
  EXPECT_EQ(::hut::testing::SampleSum(metrics.Serialize(), "hut_replica_resident_memory_bytes",
                                      {{"replica", "backend-r1-a"}}),
            2048);
}

}  // namespace
}  // namespace hut::telemetry
