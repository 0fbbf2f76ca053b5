// `hut analyze --replay`, run in-process through cli::Run on the recorded runs
// shipped in src/analysis/testdata (docs/analysis.md, "Replay").

#include "src/cli/analyze.h"

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/cli/cli.h"
#include "testing/test_env.h"

namespace hut::cli {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunHut(std::vector<std::string> args) {
  std::ostringstream out, err;
  Io io{out, err, [](const std::string&) -> std::optional<std::string> { return std::nullopt; }};
  args.insert(args.begin(), "hut");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  const int code = Run(static_cast<int>(argv.size()), argv.data(), io);
  return Result{code, out.str(), err.str()};
}

// The repository root, compiled in so the test runs from any folder.
std::string Repo(const std::string& relative) {
  return std::string(HUT_ANALYZE_TEST_SOURCE_DIR) + "/" + relative;
}

std::string Testdata(const std::string& name) {
  return Repo("src/analysis/testdata/" + name + ".json");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes `text` to `name` in `dir`; returns the path.
std::string WriteFile(const hut::testing::TempDir& dir, const std::string& name,
                      const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// `hut analyze --replay RUN ARGS... -o json`, checked to succeed, parsed.
json ReplayJson(const std::string& run, std::vector<std::string> args = {}) {
  args.insert(args.begin(), {"analyze", "--replay", run});
  args.insert(args.end(), {"-o", "json"});
  Result r = RunHut(args);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.err, "");
  json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

struct Outcome {
  std::string run;
  std::string decision;
  std::string rule;
  double seconds;  // from started_at
};

// docs/analysis.md's table of the shipped runs.
TEST(AnalyzeCommandTest, ShippedRunsReplayToTheirDocumentedOutcome) {
  const std::vector<Outcome> outcomes = {
      {"healthy", "promote", "none", 300},
      {"bad_errors", "rollback", "error_rate_vs_baseline", 10},
      {"bad_latency", "rollback", "latency_vs_baseline", 10},
      {"low_traffic", "inconclusive", "too_few_requests", 300},
  };
  for (const Outcome& o : outcomes) {
    SCOPED_TRACE(o.run);
    json j = ReplayJson(Testdata(o.run));
    EXPECT_EQ(j["decision"], o.decision);
    EXPECT_EQ(j["rule"], o.rule);
    EXPECT_EQ(j["seconds"], o.seconds);
    EXPECT_EQ(j["final"], true);
    EXPECT_EQ(j["policy"]["source"], "run");
    EXPECT_EQ(j["run"], Testdata(o.run));
    // The verdict's own JSON is included, and agrees.
    EXPECT_EQ(j["verdict"]["decision"], o.decision);
    EXPECT_EQ(j["verdict"]["message"], j["message"]);
    EXPECT_EQ(j["verdict"]["at"], j["at"]);
    // With no extension, the first decision is the last.
    EXPECT_EQ(j["first_decision"]["seconds"], o.seconds);
    EXPECT_EQ(j["first_decision"]["decision"], o.decision);
    EXPECT_EQ(j["timeline"].back()["decision"], o.decision);
  }
}

TEST(AnalyzeCommandTest, HumanOutputSaysWhenAndWhy) {
  Result r = RunHut({"analyze", "--replay", Testdata("bad_errors")});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, StartsWith("Run:       " + Testdata("bad_errors") +
                                ": 13 scrapes (0 failed), 0 hold extensions, from "
                                "2026-01-01T00:00:00.000Z to +1m\n"
                                "Policy:    recorded in the run: hold 5m; "));
  EXPECT_THAT(r.out,
              HasSubstr("Decision:  rollback (error_rate_vs_baseline) at +10s "
                        "(2026-01-01T00:00:10.000Z)\n"
                        "Why:       rolled back: canary error rate 16.7 % vs baseline 0.4 %, "
                        "227 requests, p < 0.001\n"));
  EXPECT_THAT(r.out, HasSubstr("\nTimeline:\n  +0s     first scrape (the reference)\n"));
  EXPECT_THAT(r.out, HasSubstr("\nPending:   error_rate +5s to +10s\n"));
  EXPECT_THAT(r.out, HasSubstr("\n  +5s     error_rate pending: analysing: 5s of 5m; canary error "
                               "rate 18.7 % above 5.0 % since 2026-01-01T00:00:05.000Z (fires "
                               "after 2m); "));
  EXPECT_THAT(r.out, HasSubstr("\n  +10s    rolled back: canary error rate 16.7 % vs baseline "
                               "0.4 %, 227 requests, p < 0.001 [error_rate_vs_baseline]\n"));

  r = RunHut({"analyze", "--replay", Testdata("low_traffic")});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("Decision:  inconclusive (too_few_requests) at +5m "
                               "(2026-01-01T00:05:00.000Z)\n"
                               "           inconclusive: fail rolls the rollout back\n"));
}

TEST(AnalyzeCommandTest, PolicyFileWithAShorterHoldPromotesEarlier) {
  hut::testing::TempDir dir;
  // YAML, with only the field that changes.
  json j = ReplayJson(Testdata("healthy"), {"-f", WriteFile(dir, "p.yaml", "hold: 30s\n")});
  EXPECT_EQ(j["decision"], "promote");
  EXPECT_EQ(j["seconds"], 30);
  EXPECT_EQ(j["policy"]["source"], "policy file");
  EXPECT_EQ(j["policy"]["file"], dir.path() + "/p.yaml");
  EXPECT_EQ(j["policy"]["config"]["hold"], "30s");
  // The same as JSON.
  j = ReplayJson(Testdata("healthy"), {"-f", WriteFile(dir, "p.json", R"({"hold": "30s"})")});
  EXPECT_EQ(j["seconds"], 30);

  Result r = RunHut({"analyze", "--replay", Testdata("healthy"), "-f", dir.path() + "/p.yaml"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("Policy:    " + dir.path() + "/p.yaml: hold 30s; "));
  EXPECT_THAT(r.out, HasSubstr("Decision:  promote at +30s"));
}

TEST(AnalyzeCommandTest, WithoutTheComparisonBadErrorsRollBackByTheAdrRule) {
  hut::testing::TempDir dir;
  // The ADR's rule alone (5 % for 2 min) cannot fire in this one-minute run:
  // no decision, the rule still pending at the end.
  const std::string no_compare = WriteFile(dir, "no_compare.yaml",
                                           "options:\n"
                                           "  compare_error_rate: false\n"
                                           "  compare_latency: false\n");
  json j = ReplayJson(Testdata("bad_errors"), {"-f", no_compare});
  EXPECT_EQ(j["decision"], "continue");
  EXPECT_EQ(j["rule"], "error_rate");
  EXPECT_EQ(j["final"], false);
  EXPECT_EQ(j["first_decision"], nullptr);
  ASSERT_EQ(j["pending_rules"].size(), 1u);
  EXPECT_EQ(j["pending_rules"][0]["rule"], "error_rate");
  EXPECT_EQ(j["pending_rules"][0]["until"], nullptr);
  Result r = RunHut({"analyze", "--replay", Testdata("bad_errors"), "-f", no_compare});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("Decision:  none: the recording ends at +1m with the analysis "
                               "still running (error_rate pending)\n"));

  // With `for: 30s` it fires, later than the comparison did (10 s).
  const std::string shorter =
      WriteFile(dir, "shorter.json",
                R"({"rollback": {"error_rate": {"threshold": 0.05, "for": "30s"}},
                    "options": {"compare_error_rate": false, "compare_latency": false}})");
  j = ReplayJson(Testdata("bad_errors"), {"-f", shorter});
  EXPECT_EQ(j["decision"], "rollback");
  EXPECT_EQ(j["rule"], "error_rate");
  EXPECT_GT(j["seconds"].get<double>(), 10);
  EXPECT_EQ(j["seconds"].get<double>() - j["pending_rules"][0]["from"]["seconds"].get<double>(),
            30);
  EXPECT_THAT(j["message"].get<std::string>(),
              StartsWith("rolled back: canary error rate above 5.0 % for 30s"));
}

// A recorded hold extension (a second canary step) reopens the decision; a
// policy that rolls back before it cannot apply it, and says so.
TEST(AnalyzeCommandTest, HoldExtensionsReopenTheDecisionUnlessRolledBackBefore) {
  hut::testing::TempDir dir;
  json run = json::parse(ReadFile(Testdata("healthy")));
  run["policy"]["hold"] = "1m";
  ASSERT_EQ(run["samples"][12]["at"], "2026-01-01T00:01:00.000Z");
  run["samples"].insert(run["samples"].begin() + 13,
                        json{{"at", "2026-01-01T00:01:00.000Z"}, {"extend_hold", "1m"}});
  const std::string path = WriteFile(dir, "extended.json", run.dump());

  json j = ReplayJson(path);
  EXPECT_EQ(j["first_decision"]["decision"], "promote");
  EXPECT_EQ(j["first_decision"]["seconds"], 60);
  EXPECT_EQ(j["decision"], "promote");
  EXPECT_EQ(j["seconds"], 120);
  EXPECT_EQ(j["hold_extensions"], 1);
  EXPECT_EQ(j["ignored_extensions"], 0);
  std::vector<std::string> events;
  for (const json& e : j["timeline"]) {
    events.push_back(absl::StrCat(e["seconds"].get<double>(), " ", e["event"].get<std::string>()));
  }
  EXPECT_EQ(events, (std::vector<std::string>{"0 first scrape (the reference)", "60 promote",
                                              "60 hold extended by 1m", "65 analysing again",
                                              "120 promote"}));

  // A 0.1 % error-rate limit rolls this healthy canary back at the first
  // comparison, before the extension.
  const std::string strict =
      WriteFile(dir, "strict.yaml", "rollback:\n  error_rate: {threshold: 0.001, for: 0s}\n");
  j = ReplayJson(path, {"-f", strict});
  EXPECT_EQ(j["decision"], "rollback");
  EXPECT_EQ(j["rule"], "error_rate");
  EXPECT_EQ(j["seconds"], 5);
  EXPECT_EQ(j["ignored_extensions"], 1);
  Result r = RunHut({"analyze", "--replay", path, "-f", strict});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("\nNote:      1 recorded hold extension was not applied: it comes "
                               "after this policy's rollback\n"));
}

TEST(AnalyzeCommandTest, SpecFileAsPolicy) {
  // foohut.yaml's production policy is the ADR's, which the runs were recorded with.
  json j = ReplayJson(Testdata("bad_errors"), {"-f", Repo("foohut.yaml")});
  EXPECT_EQ(j["policy"]["source"], "spec");
  EXPECT_EQ(j["policy"]["environment"], "production");
  EXPECT_EQ(j["decision"], "rollback");
  EXPECT_EQ(j["rule"], "error_rate_vs_baseline");
  EXPECT_EQ(j["seconds"], 10);
  // --env picks another environment; staging rolls, but has the top-level canary policy.
  j = ReplayJson(Testdata("bad_errors"), {"-f", Repo("foohut.yaml"), "--env", "staging"});
  EXPECT_EQ(j["policy"]["environment"], "staging");
  EXPECT_EQ(j["seconds"], 10);

  hut::testing::TempDir dir;
  // A canary environment (the default without production) whose first step holds 30 s.
  const std::string spec = WriteFile(dir, "spec.yaml",
                                     "services: {backend: {release: {command: [app]}}}\n"
                                     "environments:\n"
                                     "  dev: {runtime: local}\n"
                                     "  prod-eu:\n"
                                     "    runtime: local\n"
                                     "    strategy: canary\n"
                                     "    policies:\n"
                                     "      canary:\n"
                                     "        steps: [{weight: 10%, hold: 30s}, "
                                     "{weight: 50%, hold: 2m}]\n");
  j = ReplayJson(Testdata("healthy"), {"-f", spec});
  EXPECT_EQ(j["policy"]["environment"], "prod-eu");
  EXPECT_EQ(j["decision"], "promote");
  EXPECT_EQ(j["seconds"], 30);
  Result r = RunHut({"analyze", "--replay", Testdata("healthy"), "-f", spec});
  EXPECT_THAT(r.out, HasSubstr("Policy:    " + spec +
                               ", environment prod-eu (canary strategy): "
                               "hold 30s; "));
}

TEST(AnalyzeCommandTest, SpecEnvironmentErrorsNameTheChoices) {
  Result r = RunHut(
      {"analyze", "--replay", Testdata("healthy"), "-f", Repo("foohut.yaml"), "--env", "qa"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "hut analyze: " + Repo("foohut.yaml") +
                       ": no environment \"qa\" (it has development, staging, production)\n");

  hut::testing::TempDir dir;
  const std::string spec =
      WriteFile(dir, "spec.yaml",
                "services: {backend: {release: {command: [app]}}}\n"
                "environments: {dev: {runtime: local}, qa: {runtime: local}}\n");
  r = RunHut({"analyze", "--replay", Testdata("healthy"), "-f", spec});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "hut analyze: " + spec +
                       ": no production environment and none with the canary strategy; pick "
                       "one with --env (dev, qa)\n");

  // A spec with problems: each named file:line:column, as `hut validate` does.
  const std::string bad = Repo("src/spec/testdata/bad.yaml");
  r = RunHut({"analyze", "--replay", Testdata("healthy"), "-f", bad});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, AllOf(StartsWith(bad + ":4:5: services.backend.replicass: unknown key"),
                           HasSubstr("hut analyze: " + bad + ": the spec has ")));
}

TEST(AnalyzeCommandTest, BadRunFilesAreNamedWithWhatIsWrong) {
  Result r = RunHut({"analyze", "--replay", "/nonexistent/run.json"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "hut analyze: /nonexistent/run.json: cannot read file: No such file or directory\n");

  hut::testing::TempDir dir;
  r = RunHut({"analyze", "--replay", dir.path()});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "hut analyze: " + dir.path() + ": cannot read file: it is a directory\n");

  const std::string truncated = WriteFile(dir, "truncated.json", "{\"samples\": [\n  {\"at\": }\n");
  r = RunHut({"analyze", "--replay", truncated});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, StartsWith("hut analyze: " + truncated +
                                ": not valid JSON: parse error at line 2, column 10: "));

  // A bad field, named as RunFromJson names it.
  json run = json::parse(ReadFile(Testdata("bad_errors")));
  run["samples"][3]["canary"]["series"]["canary"]["requests"] = -5;
  const std::string bad_field = WriteFile(dir, "bad_field.json", run.dump());
  r = RunHut({"analyze", "--replay", bad_field});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "hut analyze: " + bad_field +
                       ": samples[3].canary.series.canary.requests: expected a non-negative "
                       "integer\n");

  run = json::parse(ReadFile(Testdata("bad_errors")));
  run["policy"]["rollback"]["error_rate"]["threshold"] = 5;
  r = RunHut({"analyze", "--replay", WriteFile(dir, "bad_policy.json", run.dump())});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("bad_policy.json: policy.rollback.error_rate.threshold: out of "
                               "range [0, 1]\n"));

  r = RunHut(
      {"analyze", "--replay", WriteFile(dir, "empty.json", R"({"started_at": "2026-01-01T00:00:00Z",
                                               "samples": []})")});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("empty.json: the run has no scrapes to replay\n"));
}

TEST(AnalyzeCommandTest, BadPolicyFilesAreNamedWithWhatIsWrong) {
  hut::testing::TempDir dir;
  const std::string run = Testdata("healthy");
  auto analyze = [&](const std::string& name, const std::string& text) {
    return RunHut({"analyze", "--replay", run, "-f", WriteFile(dir, name, text)});
  };
  Result r = RunHut({"analyze", "--replay", run, "-f", dir.path() + "/missing.yaml"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "hut analyze: " + dir.path() +
                       "/missing.yaml: cannot read file: No such file or directory\n");

  r = analyze("bad.json", "{\"hold\": \"30s\",}");
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, StartsWith("hut analyze: " + dir.path() +
                                "/bad.json: not valid JSON: parse error at line 1, column 16: "));

  r = analyze("bad.yaml", "hold: 30s\noptions: [unclosed\n");
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, StartsWith("hut analyze: " + dir.path() + "/bad.yaml:3:1: not valid YAML: "));

  r = analyze("field.yaml", "hold: 30x\n");
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, StartsWith("hut analyze: " + dir.path() + "/field.yaml: policy.hold: "));

  r = analyze("percent.yaml", "rollback:\n  error_rate: {threshold: 5%}\n");
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "hut analyze: " + dir.path() +
                       "/percent.yaml: policy.rollback.error_rate.threshold: expected a number\n");

  // A misspelt key is refused, not ignored.
  r = analyze("typo.yaml", "options:\n  compare_error_rates: false\n");
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, StartsWith("hut analyze: " + dir.path() +
                                "/typo.yaml: policy.options.compare_error_rates: unknown key"));

  r = analyze("empty.yaml", "\n");
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "hut analyze: " + dir.path() + "/empty.yaml: the file is empty\n");

  r = analyze("list.yaml", "- hold: 30s\n");
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "hut analyze: " + dir.path() + "/list.yaml: policy: expected an object\n");
}

TEST(AnalyzeCommandTest, UsageErrors) {
  EXPECT_EQ(RunHut({"analyze"}).code, kExitUsage);  // no --replay
  EXPECT_EQ(RunHut({"analyze", "--replay", Testdata("healthy"), "-o", "yaml"}).code, kExitUsage);
  EXPECT_EQ(RunHut({"analyze", "--replay", Testdata("healthy"), "--env", "production"}).code,
            kExitUsage);  // --env without -f
  hut::testing::TempDir dir;
  Result r = RunHut({"analyze", "--replay", Testdata("healthy"), "-f",
                     WriteFile(dir, "p.yaml", "hold: 30s\n"), "--env", "production"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("p.yaml is a policy file, not a spec"));
}

}  // namespace
}  // namespace hut::cli
