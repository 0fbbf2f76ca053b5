#include "src/controller/service_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

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
      milliseconds(5), log);

  auto started = worker.Run<absl::StatusOr<store::Rollout>>(
      [](ServiceController& c) { return c.Deploy({.version = "1.0.0"}); },
      absl::CancelledError("stopped"));
  ASSERT_TRUE(started.ok()) << started.status();

  // The worker ticks by itself; the fake world moves when stepped.
  bool finished = false;
  for (int i = 0; i < 1000 && !finished; ++i) {
    runtime.Step();
    std::this_thread::sleep_for(milliseconds(2));
    auto latest = (*store)->GetRollout(started->id);
    finished = latest.ok() && *latest && (*latest)->finished_at.has_value();
  }
  ASSERT_TRUE(finished);
  EXPECT_EQ((*(*store)->GetRollout(started->id))->phase, "succeeded");
  auto current = worker.Run<absl::StatusOr<int>>(
      [](ServiceController& c) { return c.CurrentRevision(); }, absl::CancelledError("stopped"));
  EXPECT_EQ(*current, 1);
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
      milliseconds(5), log);
  auto started = worker.Run<absl::StatusOr<store::Rollout>>(
      [](ServiceController& c) { return c.Deploy({.version = "1.0.0"}); },
      absl::CancelledError("stopped"));
  ASSERT_TRUE(started.ok()) << started.status();

  auto logged = [&sink](const std::string& what) {
    for (int i = 0; i < 500; ++i) {
      for (const std::string& line : sink.lines()) {
        if (line.find(what) != std::string::npos) return true;
      }
      std::this_thread::sleep_for(milliseconds(2));
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
