#include "src/local/replica_process.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/http/client.h"
#include "testing/capture_log_sink.h"
#include "testing/test_env.h"

namespace hut::local {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr milliseconds kTimeout{10'000};

class ReplicaProcessTest : public ::testing::Test {
 protected:
  ReplicaOptions Options(const std::string& script) {
    ReplicaOptions o;
    o.service = "backend";
    o.version = "v2";
    o.replica = "backend-r3-a1b2";
    o.argv = {"sh", "-c", script};
    o.private_dir = private_dir();
    o.sandbox = SandboxMode::kOff;
    o.grace = milliseconds(5000);
    return o;
  }
  std::string private_dir() const { return tmp_.path() + "/replica"; }

  absl::StatusOr<std::unique_ptr<ReplicaProcess>> Start(const ReplicaOptions& o,
                                                        const SandboxSupport& s = {}) {
    return ReplicaProcess::Start(o, s, sink_, clock_);
  }

  // The parsed lines whose "msg" is `msg`.
  std::vector<nlohmann::json> WithMsg(const std::string& msg) const {
    std::vector<nlohmann::json> out;
    for (const nlohmann::json& j : sink_.Parsed()) {
      if (j.value("msg", "") == msg) out.push_back(j);
    }
    return out;
  }

  // Waits (bounded) until a line with `msg` has been written.
  bool WaitForMsg(const std::string& msg, milliseconds timeout = kTimeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!WithMsg(msg).empty()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }

  testing::TempDir tmp_;
  testing::CaptureLogSink sink_;
  RealClock clock_;
};

TEST_F(ReplicaProcessTest, PlainLinesAreTaggedAndJsonLinesMerged) {
  auto r = Start(Options(
      "echo hello; "
      "echo '{\"ts\":\"2020-01-01T00:00:00.000Z\",\"level\":\"DEBUG\",\"msg\":\"from app\","
      "\"component\":\"http\",\"service\":\"evil\",\"request_id\":\"r1\"}'; "
      "echo '{not json'"));
  ASSERT_TRUE(r.ok()) << r.status();
  std::optional<ExitStatus> s = (*r)->WaitFor(kTimeout);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->success()) << s->ToString();

  std::vector<nlohmann::json> hello = WithMsg("hello");
  ASSERT_EQ(hello.size(), 1u);
  EXPECT_EQ(hello[0]["level"], "INFO");
  EXPECT_EQ(hello[0]["component"], "replica");
  EXPECT_EQ(hello[0]["service"], "backend");
  EXPECT_EQ(hello[0]["version"], "v2");
  EXPECT_EQ(hello[0]["replica"], "backend-r3-a1b2");
  EXPECT_EQ(hello[0]["stream"], "stdout");
  EXPECT_FALSE(hello[0].contains("truncated"));

  std::vector<nlohmann::json> app = WithMsg("from app");
  ASSERT_EQ(app.size(), 1u);
  EXPECT_EQ(app[0]["ts"], "2020-01-01T00:00:00.000Z");
  EXPECT_EQ(app[0]["level"], "DEBUG");
  EXPECT_EQ(app[0]["component"], "http");
  EXPECT_EQ(app[0]["request_id"], "r1");
  EXPECT_EQ(app[0]["service"], "backend");  // the replica cannot override the tags
  EXPECT_EQ(app[0]["replica"], "backend-r3-a1b2");
  EXPECT_EQ(app[0]["stream"], "stdout");

  EXPECT_EQ(WithMsg("{not json").size(), 1u);
}

TEST_F(ReplicaProcessTest, StderrIsWarnStdoutIsInfo) {
  auto r = Start(Options("echo out; echo err >&2"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitFor(kTimeout).has_value());
  std::vector<nlohmann::json> out = WithMsg("out"), err = WithMsg("err");
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(out[0]["level"], "INFO");
  EXPECT_EQ(out[0]["stream"], "stdout");
  EXPECT_EQ(err[0]["level"], "WARN");
  EXPECT_EQ(err[0]["stream"], "stderr");
}

TEST_F(ReplicaProcessTest, LastLineWithoutNewlineIsKeptAndExitCodeReported) {
  auto r = Start(Options("printf 'first\\nlast words'; printf 'err tail' >&2; exit 3"));
  ASSERT_TRUE(r.ok()) << r.status();
  std::optional<ExitStatus> s = (*r)->WaitFor(kTimeout);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->exited);
  EXPECT_EQ(s->code, 3);
  // Exited() is reported only once the output is in the sink.
  EXPECT_EQ(WithMsg("last words").size(), 1u);
  EXPECT_EQ(WithMsg("err tail").size(), 1u);
  EXPECT_EQ((*r)->Exited()->code, 3);
}

TEST_F(ReplicaProcessTest, DeathBySignalReported) {
  auto r = Start(Options("kill -9 $$"));
  ASSERT_TRUE(r.ok()) << r.status();
  std::optional<ExitStatus> s = (*r)->WaitFor(kTimeout);
  ASSERT_TRUE(s.has_value());
  EXPECT_FALSE(s->exited);
  EXPECT_EQ(s->signal, SIGKILL);
}

TEST_F(ReplicaProcessTest, LongLinesAreTruncated) {
  ReplicaOptions o = Options("echo 0123456789abcdef; echo next; printf 'ABCDEFGHIJKL'");
  o.max_line_bytes = 10;
  auto r = Start(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitFor(kTimeout).has_value());
  std::vector<nlohmann::json> cut = WithMsg("0123456789");
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0]["truncated"], true);
  EXPECT_EQ(WithMsg("next").size(), 1u);
  EXPECT_TRUE(WithMsg("abcdef").empty());
  std::vector<nlohmann::json> tail = WithMsg("ABCDEFGHIJ");
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0]["truncated"], true);
}

TEST_F(ReplicaProcessTest, RunningUntilStopped) {
  auto r = Start(Options("echo ready; while :; do sleep 0.05; done"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(WaitForMsg("ready"));
  EXPECT_FALSE((*r)->Exited().has_value());
  EXPECT_GT((*r)->pid(), 0);
  EXPECT_FALSE((*r)->sandboxed());
}

TEST_F(ReplicaProcessTest, StopSendsTermFirst) {
  std::string marker = tmp_.path() + "/marker";
  auto r = Start(Options(absl::StrCat("trap 'echo term > ", marker,
                                      "; exit 0' TERM; echo ready; while :; do sleep 0.05; done")));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(WaitForMsg("ready"));
  ExitStatus s = (*r)->Stop(milliseconds(5000));
  EXPECT_TRUE(s.success()) << s.ToString();
  EXPECT_TRUE(std::filesystem::exists(marker));
  // Idempotent.
  EXPECT_TRUE((*r)->Stop(milliseconds(5000)).success());
  ASSERT_TRUE((*r)->Exited().has_value());
  EXPECT_TRUE((*r)->Exited()->success());
  EXPECT_FALSE((*r)->Signal(SIGTERM));
}

TEST_F(ReplicaProcessTest, StopKillsAfterGrace) {
  auto r = Start(Options("trap '' TERM; echo ready; while :; do sleep 0.05; done"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(WaitForMsg("ready"));
  auto start = std::chrono::steady_clock::now();
  ExitStatus s = (*r)->Stop(milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(s.exited);
  EXPECT_EQ(s.signal, SIGKILL);
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(5000));
}

TEST_F(ReplicaProcessTest, DestructorStops) {
  pid_t pid;
  {
    auto r = Start(Options("echo ready; while :; do sleep 0.05; done"));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(WaitForMsg("ready"));
    pid = (*r)->pid();
  }
  EXPECT_NE(kill(pid, 0), 0);  // reaped
}

TEST_F(ReplicaProcessTest, LeftoverChildrenAreKilledWhenTheReplicaEnds) {
  auto r = Start(Options("sleep 30 & echo child=$!"));
  ASSERT_TRUE(r.ok()) << r.status();
  auto start = std::chrono::steady_clock::now();
  std::optional<ExitStatus> s = (*r)->WaitFor(kTimeout);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->success());
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(3000));
  pid_t child = 0;
  for (const nlohmann::json& j : sink_.Parsed()) {
    std::string msg = j["msg"];
    if (msg.rfind("child=", 0) == 0) child = std::stoi(msg.substr(6));
  }
  ASSERT_GT(child, 0);
  // Gone, or a zombie waiting for init, once the kernel has delivered the
  // SIGKILL (it may still show as running for a moment on a loaded machine).
  std::string state;
  for (int i = 0; i < 200; ++i) {
    std::ifstream stat_file(absl::StrCat("/proc/", child, "/stat"));
    std::string pid_field, comm;
    if (!(stat_file >> pid_field >> comm >> state)) state = "gone";
    if (state == "Z" || state == "gone") break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(state == "Z" || state == "gone") << state;
}

TEST_F(ReplicaProcessTest, CommandNotFoundIsAClearError) {
  ReplicaOptions o = Options("");
  o.argv = {"no-such-command-for-hut", "serve"};
  auto r = Start(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("no-such-command-for-hut serve"));
}

TEST_F(ReplicaProcessTest, EnvAndWorkingDirAndPrivateFolder) {
  ReplicaOptions o = Options("echo port=$PORT; pwd; touch file");
  o.env["PORT"] = "12345";
  auto r = Start(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitFor(kTimeout).has_value());
  EXPECT_EQ(WithMsg("port=12345").size(), 1u);
  EXPECT_EQ(WithMsg(private_dir()).size(), 1u);  // default working dir
  EXPECT_TRUE(std::filesystem::exists(private_dir() + "/file"));
}

TEST_F(ReplicaProcessTest, SandboxRequiredButUnavailableFails) {
  ReplicaOptions o = Options("true");
  o.sandbox = SandboxMode::kOn;
  SandboxSupport none;
  none.reason = "no bwrap here";
  auto r = Start(o, none);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("no bwrap here"));
}

TEST_F(ReplicaProcessTest, SandboxAutoFallsBackWithWarning) {
  ReplicaOptions o = Options("echo plain");
  o.sandbox = SandboxMode::kAuto;
  SandboxSupport none;
  none.reason = "no bwrap here";
  auto r = Start(o, none);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE((*r)->sandboxed());
  ASSERT_TRUE((*r)->WaitFor(kTimeout).has_value());
  std::vector<nlohmann::json> warn = WithMsg("replica runs without sandbox");
  ASSERT_EQ(warn.size(), 1u);
  EXPECT_EQ(warn[0]["level"], "WARN");
  EXPECT_EQ(warn[0]["reason"], "no bwrap here");
  EXPECT_EQ(warn[0]["replica"], "backend-r3-a1b2");
}

// A replica gets its stdio and nothing else of hut's: not a descriptor hut
// opened without O_CLOEXEC (as Asio opens its sockets), nor hut's
// environment (HUT_TOKEN where `hut up` was started, say).
TEST_F(ReplicaProcessTest, InheritsNoDescriptorAndNoVariableOfHuts) {
  int leaky[2];
  ASSERT_EQ(pipe(leaky), 0);  // deliberately without O_CLOEXEC
  setenv("HUT_TOKEN", "secret-admin-token", 1);
  setenv("HUT_ADDR", "127.0.0.1:7480", 1);
  ReplicaOptions o = Options("echo fds: $(ls /proc/self/fd); env | sort");
  o.env["FOOHUT_VERSION"] = "v2";
  auto r = Start(o);
  unsetenv("HUT_TOKEN");
  unsetenv("HUT_ADDR");
  close(leaky[0]);
  close(leaky[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitFor(kTimeout).has_value());
  // ls's: stdin, stdout, stderr and the folder it lists (3), nothing else.
  EXPECT_EQ(WithMsg("fds: 0 1 2 3").size(), 1u) << absl::StrJoin(sink_.lines(), "\n");
  std::vector<std::string> env;
  for (const nlohmann::json& j : sink_.Parsed()) {
    const std::string msg = j.value("msg", "");
    if (msg.find('=') != std::string::npos && msg.find(' ') == std::string::npos) {
      env.push_back(msg.substr(0, msg.find('=')));
    }
  }
  for (const std::string& name : env) EXPECT_FALSE(name.starts_with("HUT_")) << name;
  EXPECT_THAT(env, ::testing::IsSupersetOf({"FOOHUT_VERSION", "HOME", "PATH"}));
  EXPECT_EQ(WithMsg("HOME=" + private_dir()).size(), 1u);
}

// A sink that takes 5 ms per line.
class SlowSink final : public LogSink {
 public:
  void Write(std::string_view line) override {
    std::this_thread::sleep_for(milliseconds(5));
    inner.Write(line);
  }
  testing::CaptureLogSink inner;
};

TEST_F(ReplicaProcessTest, SlowSinkDropsLinesInsteadOfBlockingTheReplica) {
  ReplicaOptions o = Options(
      "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; echo done > done");
  o.max_buffered_bytes = 1000;
  SlowSink slow;
  auto start = std::chrono::steady_clock::now();
  auto r = ReplicaProcess::Start(o, SandboxSupport{}, slow, clock_);
  ASSERT_TRUE(r.ok()) << r.status();
  // 2000 lines at 5 ms would take 10 s if the sink held the replica back.
  auto deadline = start + milliseconds(5000);
  while (!std::filesystem::exists(private_dir() + "/done") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(std::filesystem::exists(private_dir() + "/done"));
  ASSERT_TRUE((*r)->WaitFor(kTimeout).has_value());
  size_t dropped = 0, kept = 0;
  for (const nlohmann::json& j : slow.inner.Parsed()) {
    if (j["msg"] == "replica log lines dropped") dropped += j["dropped_lines"].get<size_t>();
    if (j["msg"].get<std::string>().rfind("line-", 0) == 0) ++kept;
  }
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(dropped + kept, 2000u);
}

// --- The sandbox: only as root with bubblewrap and setpriv. ---

class SandboxTest : public ReplicaProcessTest {
 protected:
  void SetUp() override {
    support_ = ProbeSandbox();
    if (!support_.available) GTEST_SKIP() << "sandbox unavailable: " << support_.reason;
  }
  ReplicaOptions Options(const std::string& script) {
    ReplicaOptions o = ReplicaProcessTest::Options(script);
    o.sandbox = SandboxMode::kOn;
    return o;
  }
  SandboxSupport support_;
};

TEST_F(SandboxTest, ReadOnlyRootWritablePrivateFolderUnprivilegedUser) {
  auto r = Start(Options(
      "echo uid=$(id -u); "
      "touch /etc/hut-sandbox-test 2>&1 && echo etc-writable || echo etc-read-only; "
      "echo hi > private-file && echo private-ok; "
      "echo tmp > /tmp/x && echo tmp-ok"),
                 support_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)->sandboxed());
  std::optional<ExitStatus> s = (*r)->WaitFor(kTimeout);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->success()) << s->ToString();
  EXPECT_EQ(WithMsg(absl::StrCat("uid=", support_.uid)).size(), 1u);
  EXPECT_NE(support_.uid, 0u);
  EXPECT_EQ(WithMsg("etc-read-only").size(), 1u);
  EXPECT_TRUE(WithMsg("etc-writable").empty());
  bool read_only_error = false;
  for (const nlohmann::json& j : sink_.Parsed()) {
    if (j["msg"].get<std::string>().find("Read-only file system") != std::string::npos) {
      read_only_error = true;
    }
  }
  EXPECT_TRUE(read_only_error);
  EXPECT_FALSE(std::filesystem::exists("/etc/hut-sandbox-test"));
  EXPECT_EQ(WithMsg("private-ok").size(), 1u);
  EXPECT_EQ(WithMsg("tmp-ok").size(), 1u);
  struct stat st;
  ASSERT_EQ(stat((private_dir() + "/private-file").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, support_.uid);
}

// A replica runs as its service's own user, and the folders hut hides
// (its state folder) are empty to it, but for its own private folder inside.
TEST_F(SandboxTest, OwnUserAndHiddenStateFolder) {
  const std::string state = tmp_.path() + "/state";
  std::filesystem::create_directories(state + "/replicas");
  {
    std::ofstream token(state + "/admin-token");
    token << "secret";
  }
  chmod((state + "/admin-token").c_str(), 0644);  // even a readable file stays hidden
  ReplicaOptions o = Options(
      "echo uid=$(id -u) gid=$(id -g); echo state: $(ls -A " + state + "); "
      "cat " + state + "/admin-token 2>/dev/null || echo no-token; "
      "echo mine > own && echo private-ok");
  o.private_dir = state + "/replicas/backend-r1-aaaa";
  o.uid = 1'234'567'890;
  o.gid = 1'234'567'890;
  o.hidden = {state};
  auto r = Start(o, support_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitFor(kTimeout).has_value());
  EXPECT_EQ(WithMsg("uid=1234567890 gid=1234567890").size(), 1u)
      << absl::StrJoin(sink_.lines(), "\n");
  EXPECT_EQ(WithMsg("state: replicas").size(), 1u);  // only the path to its own folder
  EXPECT_EQ(WithMsg("no-token").size(), 1u);
  EXPECT_TRUE(WithMsg("secret").empty());
  EXPECT_EQ(WithMsg("private-ok").size(), 1u);
  struct stat st;
  ASSERT_EQ(stat((o.private_dir + "/own").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1'234'567'890u);
}

TEST_F(SandboxTest, StopSendsTermToTheWorkload) {
  auto r = Start(Options("trap 'echo term > marker; exit 0' TERM; echo ready; "
                         "while :; do sleep 0.05; done"),
                 support_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(WaitForMsg("ready"));
  // pid() is the workload itself, running as the sandbox user.
  struct stat st;
  ASSERT_EQ(stat(absl::StrCat("/proc/", (*r)->pid()).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, support_.uid);
  ExitStatus s = (*r)->Stop(milliseconds(5000));
  EXPECT_TRUE(s.success()) << s.ToString();
  EXPECT_TRUE(std::filesystem::exists(private_dir() + "/marker"));
}

TEST_F(SandboxTest, StopKillsAfterGraceAndLeavesNothing) {
  auto r = Start(Options("trap '' TERM; echo ready; while :; do sleep 0.05; done"), support_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(WaitForMsg("ready"));
  pid_t workload = (*r)->pid();
  ExitStatus s = (*r)->Stop(milliseconds(300));
  EXPECT_FALSE(s.exited) << s.ToString();
  EXPECT_EQ(s.signal, SIGKILL);
  // The workload is gone (its PID namespace with it).
  auto deadline = std::chrono::steady_clock::now() + milliseconds(2000);
  while (kill(workload, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_NE(kill(workload, 0), 0);
}

TEST_F(SandboxTest, ExitCodeAndSignalOfTheWorkload) {
  auto r1 = Start(Options("exit 7"), support_);
  ASSERT_TRUE(r1.ok()) << r1.status();
  std::optional<ExitStatus> s1 = (*r1)->WaitFor(kTimeout);
  ASSERT_TRUE(s1.has_value());
  EXPECT_TRUE(s1->exited);
  EXPECT_EQ(s1->code, 7);

  auto r2 = Start(Options("kill -9 $$"), support_);
  ASSERT_TRUE(r2.ok()) << r2.status();
  std::optional<ExitStatus> s2 = (*r2)->WaitFor(kTimeout);
  ASSERT_TRUE(s2.has_value());
  EXPECT_FALSE(s2->exited) << s2->ToString();
  EXPECT_EQ(s2->signal, SIGKILL);
}

TEST_F(SandboxTest, FoohutApiAnswersHealthzAndStopsGracefully) {
  uint16_t port = testing::PickFreePort();
  ReplicaOptions o = Options("");
  o.argv = {testing::BinPath("foohut-api"), "serve"};
  // Unreachable on purpose: /healthz answers without them (only /readyz needs them).
  o.env = {{"PORT", std::to_string(port)},
           {"FOOHUT_ENV", "development"},
           {"FOOHUT_DATABASE_URL", "postgresql://foohut@127.0.0.1:1/foohut"},
           {"FOOHUT_REDIS_URL", "redis://127.0.0.1:1"}};
  auto r = Start(o, support_);
  if (!r.ok() && absl::StrContains(r.status().message(), "cannot reach the release")) {
    GTEST_SKIP() << "this checkout is out of the sandbox user's reach: " << r.status();
  }
  ASSERT_TRUE(r.ok()) << r.status();

  http::ClientRequest req;
  req.port = port;
  req.target = "/healthz";
  req.timeout = milliseconds(1000);
  bool healthy = false;
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (!healthy && std::chrono::steady_clock::now() < deadline && !(*r)->Exited()) {
    absl::StatusOr<http::ClientResponse> resp = http::Fetch(req);
    healthy = resp.ok() && resp->status == 200;
    if (!healthy) std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(healthy) << "foohut-api did not answer /healthz";

  ExitStatus s = (*r)->Stop(milliseconds(10'000));
  EXPECT_TRUE(s.success()) << s.ToString();
  bool shutdown_logged = false;
  for (const nlohmann::json& j : sink_.Parsed()) {
    if (j["msg"] == "shutting down") {
      shutdown_logged = true;
      EXPECT_EQ(j["replica"], "backend-r3-a1b2");
      EXPECT_TRUE(j.contains("stream")) << j.dump();
    }
  }
  EXPECT_TRUE(shutdown_logged);
}

}  // namespace
}  // namespace hut::local

namespace hut::local {
namespace {

// A release the unprivileged user cannot reach (a checkout in root's home, say).
class UnreachableReleaseTest : public SandboxTest {
 protected:
  std::string Release() {
    std::string dir = tmp_.path() + "/root-only";
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
    std::string script = dir + "/run.sh";
    std::ofstream(script) << "#!/bin/sh\necho ran-as-$(id -u)\n";
    std::filesystem::permissions(script, std::filesystem::perms::owner_all |
                                             std::filesystem::perms::group_read |
                                             std::filesystem::perms::others_read |
                                             std::filesystem::perms::others_exec);
    return script;
  }
};

TEST_F(UnreachableReleaseTest, AutoRunsWithoutTheSandboxAndSaysWhy) {
  ReplicaOptions o = Options("");
  o.argv = {Release()};
  o.sandbox = SandboxMode::kAuto;
  auto r = Start(o, support_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE((*r)->sandboxed());
  ASSERT_TRUE((*r)->WaitFor(kTimeout).has_value());
  EXPECT_EQ(WithMsg("ran-as-0").size(), 1u);
  auto warned = WithMsg("replica runs without sandbox");
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_NE(warned[0]["reason"].get<std::string>().find("root-only"), std::string::npos);
}

TEST_F(UnreachableReleaseTest, OnRefusesToStart) {
  ReplicaOptions o = Options("");
  o.argv = {Release()};
  o.sandbox = SandboxMode::kOn;
  auto r = Start(o, support_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("cannot reach the release"), std::string::npos);
}

}  // namespace
}  // namespace hut::local
