#include "src/local/local_replica.h"

#include <gtest/gtest.h>

namespace hut::local {
namespace {

using runtime::ReplicaState;
using std::chrono::seconds;

TEST(ClassifyReplicaTest, StatesAndReasons) {
  const TimePoint t0 = TimePoint(std::chrono::hours(10));
  auto replica = [&](auto change) {
    LocalReplica r;
    r.name = "web-r1-ab";
    r.revision = 1;
    r.address = "127.0.0.1";
    r.port = 41000;
    r.pid = 4242;
    r.started_at = r.process_started_at = t0;
    change(r);
    return r;
  };
  struct Case {
    const char* name;
    LocalReplica replica;
    TimePoint now;
    bool out_of_rotation;
    ReplicaState state;
    bool serving;
    std::string reason;
  };
  const Case cases[] = {
      {"booting", replica([](LocalReplica&) {}), t0, false, ReplicaState::kStarting, false, ""},
      {"ready, not in the load balancer", replica([](LocalReplica& r) { r.ready = r.ever_ready = true; }),
       t0, false, ReplicaState::kReady, false, ""},
      {"serving", replica([](LocalReplica& r) { r.ready = r.ever_ready = r.in_load_balancer = true; }),
       t0, false, ReplicaState::kReady, true, ""},
      {"crashed, out of rotation",
       replica([](LocalReplica& r) { r.ready = r.ever_ready = r.in_load_balancer = true; }), t0,
       true, ReplicaState::kReady, false, ""},
      {"failing checks inside the start period",
       replica([](LocalReplica& r) {
         r.consecutive_failures = 5;
         r.last_failure = "HTTP 503";
       }),
       t0 + seconds(9), false, ReplicaState::kStarting, false, "HTTP 503"},
      {"never ready after the start period",
       replica([](LocalReplica& r) {
         r.consecutive_failures = 5;
         r.last_failure = "HTTP 503";
       }),
       t0 + seconds(10), false, ReplicaState::kFailing, false,
       "not ready 10s after starting: 5 consecutive failed health checks (last: HTTP 503)"},
      {"failing after it was ready",
       replica([](LocalReplica& r) {
         r.ever_ready = r.in_load_balancer = true;
         r.consecutive_failures = 3;
         r.last_failure = "HTTP 500";
       }),
       t0, false, ReplicaState::kFailing, false,
       "3 consecutive failed health checks (last: HTTP 500)"},
      {"two failures are not yet failing",
       replica([](LocalReplica& r) {
         r.ever_ready = r.in_load_balancer = true;
         r.consecutive_failures = 2;
       }),
       t0, false, ReplicaState::kStarting, false, ""},
      {"crash-looping",
       replica([](LocalReplica& r) {
         r.restarts = 3;
         r.last_failure = "exited: code 1";
       }),
       t0, false, ReplicaState::kCrashLooping, false,
       "crash-looping: exited 3 times (last: exited: code 1)"},
      {"draining", replica([](LocalReplica& r) { r.draining = r.ready = true; }), t0, false,
       ReplicaState::kDraining, false, ""},
  };
  for (const Case& c : cases) {
    const runtime::Replica got = ClassifyReplica(c.replica, 3, seconds(10), c.out_of_rotation, c.now);
    EXPECT_EQ(got.state, c.state) << c.name;
    EXPECT_EQ(got.serving, c.serving) << c.name;
    EXPECT_EQ(got.reason, c.reason) << c.name;
    EXPECT_EQ(got.details["pid"], 4242) << c.name;
    EXPECT_EQ(got.details["address"], "127.0.0.1:41000") << c.name;
  }
}

}  // namespace
}  // namespace hut::local
