#include "src/controller/service_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "src/spec/load.h"
#include "src/store/sqlite_store.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"
#include "testing/fake_runtime.h"

namespace hut::controller {
namespace {

using std::chrono::milliseconds;

// One service, 3 replicas, in staging with `strategy`.
spec::Spec StagingSpec(const std::string& strategy) {
  spec::LoadResult loaded = spec::ParseSpec(R"(
services:
  backend:
    release: {command: [foohut-api, serve]}
environments:
  staging:
    runtime: local
    strategy: )" + strategy + R"(
    services: {backend: {replicas: 3}}
)",
                                            "test.yaml");
  EXPECT_TRUE(loaded.ok()) << loaded.problems[0].ToString();
  return loaded.ok() ? *loaded.spec : spec::Spec{};
}

TEST(ServiceWorkerTest, RunsRequestsAndReconcilesOnItsOwnThread) {
  const spec::Spec spec = StagingSpec("rolling");
  testing::FakeClock clock;
  testing::CaptureLogSink sink;
  testing::FakeRuntime runtime(clock);
  auto store = store::SqliteStore::Open(":memory:", clock);
  ASSERT_TRUE(store.ok()) << store.status();
  Logger log(sink, clock, "worker");
  ServiceWorker worker(
      std::make_unique<ServiceController>(spec, *spec.FindEnvironment("staging"),
                                          *spec.FindService("backend"), runtime, **store, clock,
                                          log),
      clock, milliseconds(5), log);

  auto started = worker.Run<absl::StatusOr<store::Rollout>>(
      [](ServiceController& c) { return c.Deploy({.version = "1.0.0"}); },
      absl::CancelledError("stopped"));
  ASSERT_TRUE(started.ok()) << started.status();

  // The worker ticks by itself on its clock; the fake world moves when stepped.
  bool finished = false;
  for (int i = 0; i < 1000 && !finished; ++i) {
    runtime.Step();
    clock.Advance(milliseconds(5));
    clock.WaitForWaiter();  // ticked, and waits for the next one
    auto latest = (*store)->GetRollout(started->id);
    finished = latest.ok() && *latest && (*latest)->finished_at.has_value();
  }
  ASSERT_TRUE(finished);
  EXPECT_EQ((*(*store)->GetRollout(started->id))->phase, store::RolloutPhase::kSucceeded);
  auto current = worker.Run<absl::StatusOr<int>>(
      [](ServiceController& c) { return c.CurrentRevision(); }, absl::CancelledError("stopped"));
  EXPECT_EQ(*current, 1);
}

// A runtime that counts Observe() calls: a rolling tick observes once.
class CountingRuntime final : public runtime::Runtime {
 public:
  explicit CountingRuntime(runtime::Runtime& inner) : inner_(inner) {}
  runtime::ApplyResult Apply(const std::string& s, const runtime::ServicePlan& plan,
                             const std::map<int, runtime::RevisionTemplate>& t) override {
    return inner_.Apply(s, plan, t);
  }
  absl::StatusOr<runtime::Observation> Observe(const std::string& s) override {
    ++observed;
    return inner_.Observe(s);
  }
  std::atomic<int> observed{0};

 private:
  runtime::Runtime& inner_;
};

// The tick runs on the injected clock: moving the fake clock by the tick
// interval reconciles once, moving it by less does not, and no real time is
// waited for.
TEST(ServiceWorkerTest, TicksWhenItsClockReachesTheTickInterval) {
  const spec::Spec spec = StagingSpec("rolling");
  testing::FakeClock clock;
  testing::CaptureLogSink sink;
  testing::FakeRuntime fake(clock);
  CountingRuntime runtime(fake);
  auto store = store::SqliteStore::Open(":memory:", clock);
  ASSERT_TRUE(store.ok()) << store.status();
  Logger log(sink, clock, "worker");
  const auto tick = std::chrono::minutes(1);
  ServiceWorker worker(
      std::make_unique<ServiceController>(spec, *spec.FindEnvironment("staging"),
                                          *spec.FindService("backend"), runtime, **store, clock,
                                          log),
      clock, tick, log);
  auto started = worker.Run<absl::StatusOr<store::Rollout>>(
      [](ServiceController& c) { return c.Deploy({.version = "1.0.0"}); },
      absl::CancelledError("stopped"));
  ASSERT_TRUE(started.ok()) << started.status();
  clock.WaitForWaiter();  // the tick after the request is done
  const int before = runtime.observed;
  ASSERT_GT(before, 0) << "the request's tick reconciled";

  clock.Advance(tick - milliseconds(1));
  clock.WaitForWaiter();
  EXPECT_EQ(runtime.observed, before) << "no tick before the interval";
  clock.Advance(milliseconds(1));
  clock.WaitForWaiter();
  EXPECT_EQ(runtime.observed, before + 1) << "one tick at the interval";
  for (int i = 0; i < 5; ++i) {
    clock.Advance(tick);
    clock.WaitForWaiter();
  }
  EXPECT_EQ(runtime.observed, before + 6);
}

// A runtime whose Observe() throws, as a bug below the controller might.
class ThrowingRuntime final : public runtime::Runtime {
 public:
  explicit ThrowingRuntime(runtime::Runtime& inner) : inner_(inner) {}
  runtime::ApplyResult Apply(const std::string& s, const runtime::ServicePlan& plan,
                             const std::map<int, runtime::RevisionTemplate>& t) override {
    return inner_.Apply(s, plan, t);
  }
  absl::StatusOr<runtime::Observation> Observe(const std::string& s) override {
    if (throwing) throw std::runtime_error("boom in Observe");
    return inner_.Observe(s);
  }
  std::atomic<bool> throwing{false};

 private:
  runtime::Runtime& inner_;
};

// Corrupt saved state and an exception from below cost ticks, not the
// control plane: the worker logs them, keeps answering, and reconciles again
// once the cause is gone.
TEST(ServiceWorkerTest, SurvivesCorruptStateAndExceptions) {
  const spec::Spec spec = StagingSpec("canary");
  testing::FakeClock clock;
  testing::CaptureLogSink sink;
  testing::FakeRuntime fake(clock);
  ThrowingRuntime runtime(fake);
  auto store = store::SqliteStore::Open(":memory:", clock);
  ASSERT_TRUE(store.ok()) << store.status();
  Logger log(sink, clock, "worker");
  ServiceWorker worker(
      std::make_unique<ServiceController>(spec, *spec.FindEnvironment("staging"),
                                          *spec.FindService("backend"), runtime, **store, clock,
                                          log),
      clock, milliseconds(5), log);
  auto started = worker.Run<absl::StatusOr<store::Rollout>>(
      [](ServiceController& c) { return c.Deploy({.version = "1.0.0"}); },
      absl::CancelledError("stopped"));
  ASSERT_TRUE(started.ok()) << started.status();

  // Whether the worker logs `what` within 500 ticks, driven by the clock.
  auto logged = [&sink, &clock](const std::string& what) {
    for (int i = 0; i < 500; ++i) {
      for (const std::string& line : sink.lines()) {
        if (line.find(what) != std::string::npos) return true;
      }
      clock.Advance(milliseconds(5));
      clock.WaitForWaiter();
    }
    return false;
  };
  auto answers = [&worker] {
    return worker
        .Run<absl::StatusOr<int>>([](ServiceController& c) { return c.CurrentRevision(); },
                                  absl::CancelledError("stopped"))
        .ok();
  };

  // 1. An exception from the runtime.
  runtime.throwing = true;
  EXPECT_TRUE(logged("reconcile threw: boom in Observe"));
  EXPECT_TRUE(answers());
  runtime.throwing = false;

  // 2. Corrupt state: every field of the wrong type, and a mistyped command.
  // Written as another writer would: the worker's own saves may conflict,
  // so each write reads first and retries.
  auto overwrite = [&](const nlohmann::json& state) {
    for (int i = 0; i < 100; ++i) {
      store::Rollout r = *(*(*store)->GetRollout(started->id));
      r.state = state;
      if ((*store)->UpdateRollout(r).ok()) return true;
    }
    return false;
  };
  ASSERT_TRUE(overwrite({{"phase", 7}, {"command", {{"name", 5}, {"id", "x"}}}, {"step", "one"}}));
  EXPECT_TRUE(logged("saved canary state is unreadable"));
  EXPECT_TRUE(answers());
  ASSERT_TRUE(overwrite(nlohmann::json::array({1, 2, 3})));
  EXPECT_TRUE(logged("expected an object, got array"));
  EXPECT_TRUE(answers());
}

}  // namespace
}  // namespace hut::controller
