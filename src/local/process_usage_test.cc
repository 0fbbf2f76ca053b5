#include "src/local/process_usage.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/common/subprocess.h"

namespace hut::local {
namespace {
namespace fs = std::filesystem;

class FakeProc {
 public:
  FakeProc() : root_(fs::temp_directory_path() / absl::StrCat("hut-proc-", getpid())) {
    fs::remove_all(root_);
    fs::create_directories(root_ / "self");  // not a pid: ignored
  }
  ~FakeProc() { fs::remove_all(root_); }

  // A stat line as proc(5) has it; fields 14-17 are the CPU ticks, 24 the RSS pages.
  void Add(pid_t pid, pid_t ppid, const std::string& comm, int64_t ticks, int64_t pages,
           int fds) {
    const fs::path dir = root_ / std::to_string(pid);
    fs::create_directories(dir / "fd");
    for (int i = 0; i < fds; ++i) std::ofstream(dir / "fd" / std::to_string(i)) << "";
    std::string line = absl::StrCat(pid, " (", comm, ") S ", ppid);
    for (int field = 5; field <= 52; ++field) {
      int64_t v = 0;
      if (field >= 14 && field <= 17) v = ticks;  // utime, stime, cutime, cstime
      if (field == 24) v = pages;
      absl::StrAppend(&line, " ", v);
    }
    std::ofstream(dir / "stat") << line << "\n";
  }
  std::string path() const { return root_.string(); }

 private:
  fs::path root_;
};

TEST(ProcessUsageTest, SumsTheWholeTreeAndNothingElse) {
  FakeProc proc;
  proc.Add(100, 1, "my (odd) app", 10, 100, 3);  // a comm with spaces and ')'
  proc.Add(101, 100, "worker", 20, 50, 2);
  proc.Add(102, 101, "grandchild", 5, 10, 1);
  proc.Add(200, 1, "unrelated", 1000, 9999, 9);
  const ProcessTable table = ProcessTable::Read(proc.path());
  const ProcessUsage u = table.Usage(100);
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  EXPECT_EQ(u.processes, 3);
  EXPECT_DOUBLE_EQ(u.cpu_seconds, 4 * (10 + 20 + 5) / ticks);
  EXPECT_EQ(u.resident_bytes, static_cast<uint64_t>(160 * sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(u.open_fds, 6);
  EXPECT_EQ(table.Usage(101).processes, 2);
}

TEST(ProcessUsageTest, AProcessThatIsNotRunningUsesNothing) {
  FakeProc proc;
  proc.Add(100, 1, "app", 10, 100, 3);
  const ProcessUsage u = ProcessTable::Read(proc.path()).Usage(4242);
  EXPECT_EQ(u.processes, 0);
  EXPECT_EQ(u.cpu_seconds, 0);
  EXPECT_EQ(u.resident_bytes, 0u);
}

TEST(ProcessUsageTest, AMalformedStatIsSkipped) {
  FakeProc proc;
  proc.Add(100, 1, "app", 10, 100, 0);
  fs::create_directories(fs::path(proc.path()) / "101");
  std::ofstream(fs::path(proc.path()) / "101" / "stat") << "101 (truncated";
  const ProcessTable table = ProcessTable::Read(proc.path());
  EXPECT_EQ(table.Usage(100).processes, 1);
  EXPECT_EQ(table.Usage(101).processes, 0);
}

// The real /proc: a shell that burns CPU, with a child it started.
TEST(ProcessUsageTest, ARealProcessTreeIsSeenWithItsCpuAndMemory) {
  ProcessOptions options;
  // The sleep ends by itself, if the test does not end it first.
  options.argv = {"sh", "-c", "sleep 20 & i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; wait"};
  auto p = Process::Spawn(options);
  ASSERT_TRUE(p.ok()) << p.status();
  ProcessUsage u;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    u = ProcessTable::Read().Usage((*p)->pid());
    if (u.processes == 2 && u.cpu_seconds >= 0.05) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(u.processes, 2);  // sh and its sleep
  EXPECT_GE(u.cpu_seconds, 0.05);
  EXPECT_GT(u.resident_bytes, 100'000u);
  EXPECT_GE(u.open_fds, 2);
  // The sleep: the child of the shell that is not the shell.
  const std::string children =
      absl::StrCat("/proc/", (*p)->pid(), "/task/", (*p)->pid(), "/children");
  std::ifstream in(children);
  for (pid_t child; in >> child;) kill(child, SIGKILL);
}

}  // namespace
}  // namespace hut::local
