#include "src/analysis/record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "src/analysis/analyzer.h"
#include "testing/analysis_simulator.h"
#include "testing/analysis_testdata_runs.h"
#include "testing/fake_clock.h"

namespace hut::analysis {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

// A MetricsSource over the simulator, failing when told to.
class SimulatedSource : public MetricsSource {
 public:
  SimulatedSource(const SimProfile& profile, uint64_t seed, TimePoint start)
      : sim_(profile, seed, start) {}
  absl::StatusOr<Observation> Scrape(TimePoint now) override {
    if (fail_) return absl::UnavailableError("scrape failed");
    return sim_.Advance(now);
  }
  bool fail_ = false;
  TrafficSimulator& sim() { return sim_; }

 private:
  TrafficSimulator sim_;
};

std::string SourceDir() {
  const char* dir = std::getenv("HUT_SOURCE_DIR");
  return dir ? dir : ".";
}

TEST(RecordTest, RunRoundTripsThroughJson) {
  RecordedRun run = SimulateRun(SimProfile(), 1, AnalysisConfig(), TimePoint(seconds(1767225600)),
                                seconds(5), seconds(20));
  run.policy.rollback.error_rate.for_ = seconds(90);
  run.policy.options.rate_window = seconds(20);
  run.policy.inconclusive = spec::InconclusiveAction::kExtend;
  run.samples[2].error = absl::DeadlineExceededError("stats: timeout");
  run.samples[2].observation = Observation();
  run.samples[1].observation.canary.health_check_failures = {{"c-1", 2}};
  run.extensions.push_back({run.samples.back().at, minutes(5)});
  std::string text = RunToJson(run).dump();
  absl::StatusOr<RecordedRun> back = ParseRun(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->policy, run.policy);
  EXPECT_EQ(back->started_at, run.started_at);
  ASSERT_EQ(back->samples.size(), run.samples.size());
  for (size_t i = 0; i < run.samples.size(); ++i) {
    EXPECT_EQ(back->samples[i], run.samples[i]) << i;
  }
  EXPECT_EQ(back->extensions, run.extensions);
  EXPECT_EQ(*back, run);
}

// A store keeps the records one by one (store::AnalysisSample); the run
// rebuilds from them.
TEST(RecordTest, RunRebuildsFromRecordsOneByOne) {
  RecordedRun run = SimulateRun(SimProfile(), 2, AnalysisConfig(), TimePoint(seconds(1767225600)),
                                seconds(5), seconds(15));
  run.samples[1].error = absl::UnavailableError("down");
  run.samples[1].observation = Observation();
  run.extensions.push_back({run.samples[2].at, minutes(5)});

  RecordedRun rebuilt;
  rebuilt.policy = run.policy;
  rebuilt.started_at = run.started_at;
  for (const RecordedScrape& s : run.samples) {
    std::string stored = ScrapeToJson(s).dump();  // what the store keeps
    ASSERT_TRUE(AppendRecordFromJson(nlohmann::json::parse(stored), rebuilt).ok());
    if (s.at == run.samples[2].at) {
      ASSERT_TRUE(AppendRecordFromJson(ExtensionToJson(run.extensions[0]), rebuilt).ok());
    }
  }
  EXPECT_EQ(rebuilt, run);
  // In a run's JSON the extension is a record after the scrape at its time.
  nlohmann::json j = RunToJson(run);
  EXPECT_EQ(j["samples"][3]["extend_hold"], "5m");
  EXPECT_EQ(j["samples"].size(), run.samples.size() + 1);
  EXPECT_THAT(std::string(AppendRecordFromJson(nlohmann::json::parse(R"({"at": 5})"), rebuilt,
                                               "samples[7]")
                              .message()),
              HasSubstr("samples[7].at"));
}

TEST(RecordTest, PolicyFieldsDefaultAndBadOnesAreNamed) {
  absl::StatusOr<AnalysisConfig> c =
      ConfigFromJson(nlohmann::json::parse(R"({"rollback": {"error_rate": {"for": "1m"}}})"));
  ASSERT_TRUE(c.ok()) << c.status();
  AnalysisConfig expected;
  expected.rollback.error_rate.for_ = minutes(1);
  EXPECT_EQ(*c, expected);

  c = ConfigFromJson(nlohmann::json::parse(R"({"options": {"rate_window": "30x"}})"));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("policy.options.rate_window"));
  c = ConfigFromJson(nlohmann::json::parse(R"({"max_false_rollback_rate": 0.9})"));
  EXPECT_FALSE(c.ok());
  EXPECT_FALSE(ParseRun("{").ok());
  EXPECT_THAT(std::string(ParseRun(R"({"samples": [{"at": "yesterday"}]})").status().message()),
              HasSubstr("samples[0].at"));
}

TEST(RecordTest, StartDefaultsToTheFirstSample) {
  absl::StatusOr<RecordedRun> run = ParseRun(R"({"samples": [
      {"at": "2026-01-01T00:00:10.000Z", "canary": {}, "baseline": {}}]})");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->started_at, TimePoint(seconds(1767225610)));
  EXPECT_EQ(run->policy, AnalysisConfig());
}

TEST(RecordTest, SamplesOutOfOrderAreRefused) {
  RecordedRun run = SimulateRun(SimProfile(), 1, AnalysisConfig(), TimePoint(seconds(1767225600)),
                                seconds(5), seconds(20));
  std::swap(run.samples[1], run.samples[3]);
  EXPECT_EQ(Analyze(run).status().code(), absl::StatusCode::kInvalidArgument);
}

// A live analysis (fake clock, simulated source with an outage, an
// extension) and the replay of its recording give the same verdicts, also
// after a trip through JSON text.
TEST(RecordTest, ReplayReproducesTheLiveVerdicts) {
  hut::testing::FakeClock clock;
  SimProfile profile;
  profile.canary.rps = 0.1;  // low traffic: inconclusive, extended, inconclusive
  profile.baseline.rps = 1;
  SimulatedSource source(profile, 77, clock.Now());
  AnalysisConfig config;
  config.inconclusive = spec::InconclusiveAction::kExtend;
  auto analyzer = *Analyzer::Start(config, source, clock);
  std::vector<std::string> live;
  for (int i = 0; i < 700; ++i) {
    source.fail_ = i >= 100 && i < 130;  // a 30 s outage
    const Verdict& v = analyzer->Tick();
    live.push_back(v.Json().dump());
    if (v.final) {
      HoldEndAction a = ResolveHoldEnd(v, config.inconclusive, analyzer->analysis().extensions());
      if (a != HoldEndAction::kExtend) break;
      ASSERT_TRUE(analyzer->ExtendHold(config.hold).ok());
    }
    clock.Advance(std::chrono::milliseconds(1000));
  }
  EXPECT_EQ(analyzer->analysis().extensions(), 1);
  EXPECT_EQ(analyzer->verdict().decision, Decision::kInconclusive);

  absl::StatusOr<RecordedRun> run = ParseRun(RunToJson(analyzer->recording()).dump());
  ASSERT_TRUE(run.ok()) << run.status();
  absl::StatusOr<std::vector<Verdict>> replay = Analyze(*run);
  ASSERT_TRUE(replay.ok()) << replay.status();
  ASSERT_EQ(replay->size(), live.size());
  for (size_t i = 0; i < live.size(); ++i) {
    ASSERT_EQ((*replay)[i].Json().dump(), live[i]) << "scrape " << i;
  }
}

// A controller that restarts mid-analysis resumes from the recording and
// reaches the same verdicts as one that never stopped.
TEST(RecordTest, ResumeContinuesWhereTheRecordingEnds) {
  const SimProfile profile;
  hut::testing::FakeClock clock_a, clock_b;
  SimulatedSource source_a(profile, 5, clock_a.Now());
  SimulatedSource source_b(profile, 5, clock_b.Now());
  auto a = *Analyzer::Start(AnalysisConfig(), source_a, clock_a);
  auto b = *Analyzer::Start(AnalysisConfig(), source_b, clock_b);
  for (int i = 0; i < 100; ++i) {
    a->Tick();
    b->Tick();
    clock_a.Advance(seconds(2));
    clock_b.Advance(seconds(2));
  }
  // b "restarts": a new Analyzer from its recording, same source.
  auto resumed = Analyzer::Resume(b->recording(), source_b, clock_b);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  b = *std::move(resumed);
  EXPECT_EQ(b->verdict().Json().dump(), a->verdict().Json().dump());
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(b->Tick().Json().dump(), a->Tick().Json().dump()) << i;
    clock_a.Advance(seconds(2));
    clock_b.Advance(seconds(2));
  }
  EXPECT_EQ(a->verdict().decision, Decision::kPromote);
}

// The recorded runs shipped in testdata/ replay to their expected outcome.
TEST(RecordTest, ShippedRunsReplayToTheirOutcome) {
  for (const TestdataRun& t : MakeTestdataRuns()) {
    SCOPED_TRACE(t.name);
    std::ifstream in(SourceDir() + "/src/analysis/testdata/" + t.name + ".json");
    ASSERT_TRUE(in) << "missing testdata/" << t.name << ".json (run analysis_testdata)";
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<RecordedRun> run = ParseRun(text.str());
    ASSERT_TRUE(run.ok()) << run.status();
    absl::StatusOr<std::vector<Verdict>> timeline = Analyze(*run);
    ASSERT_TRUE(timeline.ok()) << timeline.status();
    ASSERT_FALSE(timeline->empty());
    const Verdict& last = timeline->back();
    std::printf("[figures] testdata/%s.json: %s\n", t.name.c_str(), last.Message().c_str());
    EXPECT_EQ(last.decision, t.expected) << last.Message();
    EXPECT_EQ(last.rule, t.expected_rule) << last.Message();
    EXPECT_TRUE(last.final);
    // The generator, run again, still makes runs with these outcomes.
    absl::StatusOr<std::vector<Verdict>> regenerated = Analyze(t.run);
    ASSERT_TRUE(regenerated.ok());
    EXPECT_EQ(regenerated->back().decision, t.expected);
  }
}

}  // namespace
}  // namespace hut::analysis
