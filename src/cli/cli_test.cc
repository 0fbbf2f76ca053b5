#include "src/cli/cli.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/subprocess.h"
#include "testing/test_env.h"

namespace hut::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// Runs the CLI in-process with captured streams and a fake environment.
struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunHut(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  std::ostringstream out, err;
  Io io{out, err, [&env](const std::string& name) -> std::optional<std::string> {
          auto it = env.find(name);
          if (it == env.end()) return std::nullopt;
          return it->second;
        }};
  args.insert(args.begin(), "hut");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  const int code = Run(static_cast<int>(argv.size()), argv.data(), io);
  return Result{code, out.str(), err.str()};
}

std::string Repo(const std::string& relative) { return hut::testing::SourceDir() + "/" + relative; }

TEST(ValidateCommandTest, GoodSpecPrintsOneLineSummary) {
  Result r = RunHut({"validate", "-f", Repo("foohut.yaml")});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, Repo("foohut.yaml") +
                       ": ok: 2 services (backend, frontend), 3 environments (development, "
                       "staging, production)\n");
  EXPECT_EQ(r.err, "");
}

TEST(ValidateCommandTest, DefaultFileIsFoohutYamlInCurrentFolder) {
  // ctest runs tests from the repository root.
  Result r = RunHut({"validate"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, StartsWith("foohut.yaml: ok: 2 services"));
}

TEST(ValidateCommandTest, HutSpecVariableNamesTheFile) {
  Result r = RunHut({"validate"}, {{"HUT_SPEC", "/nonexistent/spec.yaml"}});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/spec.yaml: cannot read file"));
  // The flag wins over the variable.
  r = RunHut({"validate", "--file", Repo("foohut.yaml")}, {{"HUT_SPEC", "/nonexistent"}});
  EXPECT_EQ(r.code, kExitOk);
}

TEST(ValidateCommandTest, BadSpecPrintsEveryProblemAndFails) {
  const std::string bad = Repo("src/spec/testdata/bad.yaml");
  Result r = RunHut({"validate", "-f", bad});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            bad + ":4:5: services.backend.replicass: unknown key (did you mean \"replicas\"?)\n" +
                bad +
                ":10:18: policies.rollback.error_rate.threshold: invalid percentage \"5\" "
                "(expected a number and %, e.g. 5%)\n" +
                bad +
                ":14:15: environments.production.strategy: unknown strategy \"blue-green\" "
                "(expected one of replace, rolling, canary)\n" +
                "hut validate: 3 problems in " + bad + "\n");
}

TEST(ValidateCommandTest, UnreadableFileFails) {
  Result r = RunHut({"validate", "-f", "/nonexistent/foohut.yaml"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, StartsWith("/nonexistent/foohut.yaml: cannot read file: No such file"));
}

TEST(CliTest, UsageErrorsExit64) {
  EXPECT_EQ(kExitUsage, 64);  // sysexits' EX_USAGE; 2 is a rolled-back rollout
  EXPECT_EQ(RunHut({}).code, kExitUsage);
  EXPECT_EQ(RunHut({"frobnicate"}).code, kExitUsage);
  Result r = RunHut({"validate", "--bogus"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--bogus"));
  EXPECT_EQ(RunHut({"deploy", "backend"}).code, kExitUsage);  // no version
  EXPECT_EQ(RunHut({"deploy", "backend", "1.0", "--strategy", "blue-green"}).code, kExitUsage);
  // --set takes one value per use, so positionals may follow it; a bad one
  // is refused before anything is sent (HUT_ADDR is not even read).
  r = RunHut({"deploy", "--set", "BAD", "backend", "1.0"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "hut deploy: --set \"BAD\": expected VAR=VALUE (e.g. --set LOG_LEVEL=debug)\n");
  EXPECT_EQ(RunHut({"rollout"}).code, kExitUsage);
  EXPECT_EQ(RunHut({"rollout", "undo", "backend", "--to-revision", "0"}).code, kExitUsage);
  EXPECT_EQ(RunHut({"rollout", "history", "backend", "-o", "wide"}).code, kExitUsage);
}

TEST(CliTest, UnknownCommandNamesTheKnownOnes) {
  Result r = RunHut({"frobnicate"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("hut: unknown command \"frobnicate\" (commands: "));
  EXPECT_THAT(r.err, HasSubstr("deploy"));
  EXPECT_THAT(r.err, HasSubstr("rollout"));
  r = RunHut({"rollout", "frob", "backend"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("hut rollout: unknown command \"frob\" (commands: status, "));
}

// Stopping what does not run is done already: it says so and succeeds.
TEST(CliTest, DownWithNothingRunningSaysSo) {
  const std::string home = ::testing::TempDir() + "/down-home";
  std::filesystem::create_directories(home);
  const std::string address = "127.0.0.1:" + std::to_string(hut::testing::PickFreePort());
  Result r = RunHut({"down"}, {{"HOME", home}, {"HUT_ADDR", address}});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "hut down: no hut server is running at " + address + "; nothing to stop\n");
}

TEST(CliTest, VersionAndHelp) {
  Result r = RunHut({"--version"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, MatchesRegex("hut [0-9]+\\.[0-9]+\\.[0-9]+\n"));
  r = RunHut({"--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("validate"));
  EXPECT_THAT(r.out, HasSubstr("deploy"));
  EXPECT_THAT(r.out, HasSubstr("rollout"));
  EXPECT_THAT(r.out, HasSubstr("Exit codes: 0 ok; 1 "));
  EXPECT_THAT(r.out, HasSubstr("64 the command line was wrong"));
  r = RunHut({"rollout", "--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("status"));
  EXPECT_THAT(r.out, HasSubstr("history"));
  EXPECT_THAT(r.out, HasSubstr("undo"));
}

// The built binary, as a user runs it.
TEST(HutBinaryTest, ValidateExitCodes) {
  const std::string hut = HUT_BINARY;
  ProcessOptions good;
  good.argv = {hut, "validate", "-f", Repo("foohut.yaml")};
  good.kill_with_parent = false;
  absl::StatusOr<CommandResult> r = RunCommand(good, std::chrono::seconds(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status.success()) << r->output;
  EXPECT_THAT(r->output, HasSubstr(": ok: 2 services (backend, frontend)"));

  ProcessOptions bad = good;
  bad.argv = {hut, "validate", "-f", Repo("src/spec/testdata/bad.yaml")};
  r = RunCommand(bad, std::chrono::seconds(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status.exited);
  EXPECT_EQ(r->status.code, 1) << r->output;
  EXPECT_THAT(r->output, HasSubstr("bad.yaml:4:5: services.backend.replicass: unknown key"));

  ProcessOptions usage = good;
  usage.argv = {hut, "validate", "--bogus"};
  r = RunCommand(usage, std::chrono::seconds(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status.code, 64) << r->output;
}

// `hut up` on an environment whose runtime is kubernetes says plainly that
// it runs it here, on the local runtime.
TEST(HutBinaryTest, UpOnAKubernetesEnvironmentSaysItRunsLocally) {
  hut::testing::TempDir dir;
  const std::string spec = dir.path() + "/foohut.yaml";
  std::ofstream(spec) << "services:\n  web:\n    port: " << hut::testing::PickFreePort()
                      << "\n    release: {command: [sleep, '60']}\n"
                         "environments: {production: {runtime: kubernetes}}\n";
  const std::string address = "127.0.0.1:" + std::to_string(hut::testing::PickFreePort());
  ProcessOptions up;
  up.argv = {HUT_BINARY, "up",    "-f",        spec, "--env", "production", "--listen",
             address,    "--prometheus-port", "0", "--alertmanager-port", "off",
             "--jaeger-port", "off"};
  up.env = {{"HOME", dir.path()}};
  up.stdout_mode = up.stderr_mode = OutputMode::kFile;
  up.stdout_path = up.stderr_path = dir.path() + "/up.log";
  auto process = Process::Spawn(up);
  ASSERT_TRUE(process.ok()) << process.status();
  std::string log;
  for (int i = 0; i < 200 && log.find("control API") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a real server starting
    std::ifstream in(dir.path() + "/up.log");
    log.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_THAT(log, HasSubstr("production names the kubernetes runtime; hut up runs it on this "
                             "machine with the local runtime instead"));
  ProcessOptions down;
  down.argv = {HUT_BINARY, "down"};
  down.env = {{"HOME", dir.path()}, {"HUT_ADDR", address}};
  down.working_dir = dir.path();
  auto stopped = RunCommand(down, std::chrono::seconds(60));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_TRUE(stopped->status.success()) << stopped->output;
  EXPECT_TRUE((*process)->WaitFor(std::chrono::seconds(30)).has_value()) << log;
}

}  // namespace
}  // namespace hut::cli
