#include "src/common/subprocess.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>
#include <fstream>

#include <signal.h>

namespace hut {
namespace {

using std::chrono::milliseconds;

TEST(RunCommandTest, CapturesOutputAndExitCode) {
  ProcessOptions opts;
  opts.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"};
  auto r = RunCommand(opts, milliseconds(5000));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status.exited);
  EXPECT_EQ(r->status.code, 3);
  EXPECT_NE(r->output.find("out"), std::string::npos);
  EXPECT_NE(r->output.find("err"), std::string::npos);
}

TEST(RunCommandTest, PassesEnvironmentAndWorkingDir) {
  ProcessOptions opts;
  opts.argv = {"sh", "-c", "echo $HUT_X; pwd"};
  opts.env["HUT_X"] = "hello";
  opts.working_dir = "/";
  auto r = RunCommand(opts, milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "hello\n/\n");
}

TEST(RunCommandTest, TimesOutAndKills) {
  ProcessOptions opts;
  opts.argv = {"sleep", "10"};
  auto r = RunCommand(opts, milliseconds(100));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(ProcessTest, MissingProgramIsAClearError) {
  ProcessOptions opts;
  opts.argv = {"/nonexistent/hut-no-such-binary"};
  auto p = Process::Spawn(opts);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("No such file"), std::string::npos);
}

TEST(ProcessTest, StopSendsTermThenKill) {
  ProcessOptions opts;
  opts.argv = {"sh", "-c", "trap '' TERM; sleep 10"};
  auto p = Process::Spawn(opts);
  ASSERT_TRUE(p.ok());
  // Give the shell time to install its trap before signalling.
  std::this_thread::sleep_for(milliseconds(100));
  ExitStatus s = (*p)->Stop(milliseconds(200));
  EXPECT_FALSE(s.exited);
  EXPECT_EQ(s.signal, SIGKILL);
}

TEST(ProcessTest, DestructorKillsARunningChild) {
  pid_t pid;
  {
    ProcessOptions opts;
    opts.argv = {"sleep", "10"};
    auto p = Process::Spawn(opts);
    ASSERT_TRUE(p.ok());
    pid = (*p)->pid();
  }
  EXPECT_NE(kill(pid, 0), 0);  // reaped: no such process
}

}  // namespace
// Every descriptor but stdio is closed at exec, even one opened without
// O_CLOEXEC.
TEST(ProcessTest, ChildGetsOnlyStdio) {
  int leaky[2];
  ASSERT_EQ(pipe(leaky), 0);
  ProcessOptions opts;
  opts.argv = {"sleep", "5"};
  opts.clear_env = true;  // no locale to load: sleep opens nothing of its own
  opts.stdout_mode = OutputMode::kPipe;
  auto p = Process::Spawn(opts);
  close(leaky[0]);
  close(leaky[1]);
  ASSERT_TRUE(p.ok()) << p.status();
  // Listed once the child sleeps, past whatever its own start-up opened.
  const std::string stat_path = "/proc/" + std::to_string((*p)->pid()) + "/stat";
  for (int i = 0; i < 200; ++i) {
    std::ifstream stat(stat_path);
    std::string pid, comm, state;
    if (stat >> pid >> comm >> state && state == "S") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::set<int> fds;
  for (const auto& e : std::filesystem::directory_iterator(
           "/proc/" + std::to_string((*p)->pid()) + "/fd")) {
    fds.insert(std::stoi(e.path().filename().string()));
  }
  EXPECT_EQ(fds, (std::set<int>{0, 1, 2}));
  (*p)->Stop(std::chrono::milliseconds(1000));
}

}  // namespace hut
