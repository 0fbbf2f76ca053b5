#include "src/local/supervisor.h"

#include <gtest/gtest.h>

#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"

namespace hut::local {
namespace {

using std::chrono::milliseconds;

// A process that dies when told and restarts when its restart is allowed to
// succeed.
struct FakeProcess {
  bool running = true;
  bool restart_works = true;
  int restart_calls = 0;
  Supervised As(std::string name) {
    return {std::move(name),
            [this]() -> std::optional<std::string> {
              if (running) return std::nullopt;
              return "killed by signal 9 (Killed)";
            },
            [this]() -> absl::Status {
              ++restart_calls;
              if (!restart_works) return absl::UnavailableError("port 5432 in use");
              running = true;
              return absl::OkStatus();
            }};
  }
};

class SupervisorTest : public ::testing::Test {
 protected:
  SupervisorTest()
      : supervisor_({pg_.As("postgres"), lb_.As("load balancer")}, clock_,
                    Logger(sink_, clock_, "supervisor"),
                    [this](const SupervisorEvent& e) { events_.push_back(e); },
                    {.backoff = milliseconds(250), .max_backoff = milliseconds(1000)}) {}

  std::vector<std::string> Types() const {
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(e.name + " " + e.Type());
    return out;
  }

  testing::FakeClock clock_;
  testing::CaptureLogSink sink_;
  FakeProcess pg_, lb_;
  std::vector<SupervisorEvent> events_;
  Supervisor supervisor_;
};

TEST_F(SupervisorTest, NothingHappensWhileEverythingRuns) {
  supervisor_.CheckOnce();
  EXPECT_TRUE(events_.empty());
  EXPECT_TRUE(supervisor_.State("postgres")->up);
  EXPECT_FALSE(supervisor_.State("redis").has_value());
}

TEST_F(SupervisorTest, ADeadProcessIsRestartedAtOnceAndReported) {
  pg_.running = false;
  supervisor_.CheckOnce();
  EXPECT_EQ(pg_.restart_calls, 1);
  EXPECT_TRUE(pg_.running);
  EXPECT_EQ(Types(), (std::vector<std::string>{"postgres dependency.down",
                                               "postgres dependency.restarted"}));
  EXPECT_EQ(events_[0].Message(), "postgres died (killed by signal 9 (Killed)); restarting it");
  EXPECT_EQ(events_[1].Message(), "postgres restarted (1 restart so far)");
  SupervisedState s = *supervisor_.State("postgres");
  EXPECT_TRUE(s.up);
  EXPECT_EQ(s.restarts, 1);
  EXPECT_EQ(s.last_down, "killed by signal 9 (Killed)");
  EXPECT_EQ(lb_.restart_calls, 0);
}

TEST_F(SupervisorTest, FailedRestartsBackOffDoublingUpToTheMaximum) {
  pg_.running = false;
  pg_.restart_works = false;
  supervisor_.CheckOnce();  // at once: fails; next in 250 ms
  EXPECT_EQ(pg_.restart_calls, 1);
  EXPECT_FALSE(supervisor_.State("postgres")->up);
  const int expected_gaps_ms[] = {250, 500, 1000, 1000};
  for (int gap : expected_gaps_ms) {
    clock_.Advance(milliseconds(gap - 1));
    const int before = pg_.restart_calls;
    supervisor_.CheckOnce();
    EXPECT_EQ(pg_.restart_calls, before) << "too early at gap " << gap;
    clock_.Advance(milliseconds(1));
    supervisor_.CheckOnce();
    EXPECT_EQ(pg_.restart_calls, before + 1) << "not on time at gap " << gap;
  }
  pg_.restart_works = true;
  clock_.Advance(milliseconds(1000));
  supervisor_.CheckOnce();
  EXPECT_TRUE(supervisor_.State("postgres")->up);
  EXPECT_EQ(events_.back().kind, SupervisorEvent::Kind::kRestarted);
  // Backoff starts afresh after a success: a new death restarts at once.
  pg_.running = false;
  pg_.restart_works = false;
  supervisor_.CheckOnce();
  clock_.Advance(milliseconds(250));
  const int before = pg_.restart_calls;
  supervisor_.CheckOnce();
  EXPECT_EQ(pg_.restart_calls, before + 1);
}

TEST_F(SupervisorTest, StateSaysSinceWhenItIsBack) {
  pg_.running = false;
  clock_.Advance(milliseconds(5000));
  const TimePoint back = clock_.Now();
  supervisor_.CheckOnce();
  EXPECT_EQ(supervisor_.State("postgres")->since, back);
}

}  // namespace
}  // namespace hut::local
