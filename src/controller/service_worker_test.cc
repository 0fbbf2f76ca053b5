#include "src/controller/service_worker.h"

#include <gtest/gtest.h>

#include <thread>

#include "src/spec/load.h"
#include "src/store/sqlite_store.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"
#include "testing/fake_runtime.h"

namespace hut::controller {
namespace {

using std::chrono::milliseconds;

TEST(ServiceWorkerTest, RunsRequestsAndReconcilesOnItsOwnThread) {
  spec::LoadResult loaded = spec::ParseSpec(R"(
services:
  backend:
    release: {command: [foohut-api, serve]}
environments:
  staging:
    runtime: local
    strategy: rolling
    services: {backend: {replicas: 3}}
)",
                                            "test.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.problems[0].ToString();
  const spec::Spec& spec = *loaded.spec;
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

}  // namespace
}  // namespace hut::controller
