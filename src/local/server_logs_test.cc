// The servers' log lines into hut's JSON (server_log_lines.h), and the
// follower that reads them from their files (log_follower.h).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/local/log_follower.h"
#include "src/local/log_socket.h"
#include "src/local/server_log_lines.h"
#include "testing/fake_clock.h"

namespace hut::local {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

json Parse(const std::optional<std::string>& line) {
  EXPECT_TRUE(line.has_value());
  return line ? json::parse(*line) : json();
}

TEST(ServerLogLinesTest, PostgresJsonlogKeepsItsFieldsButNotTheStatement) {
  const ServerLogOrigin origin{.service = "database", .component = "postgresql"};
  const json j = Parse(PostgresLogLine(
      R"({"timestamp":"2026-12-07 13:04:05.678 UTC","user":"foohut","dbname":"foohut","pid":4242,)"
      R"("error_severity":"ERROR","state_code":"42601","message":"syntax error at or near \"PASWORD\"",)"
      R"("statement":"ALTER ROLE foohut PASWORD 'hunter2'","backend_type":"client backend"})",
      origin));
  EXPECT_EQ(j["ts"], "2026-12-07T13:04:05.678Z");
  EXPECT_EQ(j["level"], "ERROR");
  EXPECT_EQ(j["msg"], "syntax error at or near \"PASWORD\"");
  EXPECT_EQ(j["service"], "database");
  EXPECT_EQ(j["component"], "postgresql");
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["state_code"], "42601");
  EXPECT_FALSE(j.contains("statement"));
  EXPECT_EQ(j.dump().find("hunter2"), std::string::npos);
  EXPECT_EQ(Parse(PostgresLogLine(R"({"error_severity":"WARNING","message":"w"})", origin))["level"],
            "WARN");
  EXPECT_EQ(Parse(PostgresLogLine(R"({"error_severity":"LOG","message":"ready"})", origin))["level"],
            "INFO");
  // Not JSON: kept as the message.
  const json plain = Parse(PostgresLogLine("2026-12-07 13:04:05 UTC LOG:  starting", origin));
  EXPECT_EQ(plain["msg"], "2026-12-07 13:04:05 UTC LOG:  starting");
  EXPECT_EQ(plain["level"], "INFO");
}

TEST(ServerLogLinesTest, RedisLinesGetTheirTimeLevelPidAndRole) {
  const ServerLogOrigin origin{.service = "cache", .component = "redis"};
  const json j =
      Parse(RedisLogLine("7:M 07 Dec 2026 13:04:05.678 * Ready to accept connections tcp", origin));
  EXPECT_EQ(j["ts"], "2026-12-07T13:04:05.678Z");
  EXPECT_EQ(j["level"], "INFO");
  EXPECT_EQ(j["msg"], "Ready to accept connections tcp");
  EXPECT_EQ(j["pid"], 7);
  EXPECT_EQ(j["role"], "M");
  EXPECT_EQ(j["service"], "cache");
  EXPECT_EQ(Parse(RedisLogLine("7:M 07 Dec 2026 13:04:05.678 # WARNING overcommit", origin))["level"],
            "WARN");
  EXPECT_EQ(Parse(RedisLogLine("  _._  ", origin))["msg"], "  _._  ");
}

TEST(ServerLogLinesTest, HaproxyAccessLinesCarryTheTraceAndRequestIds) {
  const ServerLogOrigin origin{.service = "load-balancer", .component = "haproxy"};
  const json j = Parse(HaproxyLogLine(
      R"({"accept_s":1796648645,"accept_ms":"045","backend":"backend","server":"backend-r2-a1",)"
      R"("status":503,"method":"GET","path":"/api/v1/pages","total_ms":12,"response_ms":10,)"
      R"("bytes":321,"client":"127.0.0.1","termination":"--","retries":"0",)"
      R"("traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","request_id":"-"})",
      origin));
  EXPECT_EQ(j["ts"], "2026-12-07T13:04:05.045Z");
  EXPECT_EQ(j["level"], "WARN");  // a 5xx
  EXPECT_EQ(j["msg"], "GET /api/v1/pages 503");
  EXPECT_EQ(j["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_FALSE(j.contains("request_id"));  // "-": none
  EXPECT_FALSE(j.contains("traceparent"));
  EXPECT_EQ(j["backend"], "backend");
  EXPECT_EQ(j["server"], "backend-r2-a1");
  EXPECT_EQ(j["service"], "load-balancer");
  const json ok = Parse(HaproxyLogLine(
      R"({"accept_s":1,"accept_ms":"000","status":200,"method":"GET","path":"/","traceparent":"-","request_id":"abc"})",
      origin));
  EXPECT_EQ(ok["level"], "INFO");
  EXPECT_EQ(ok["request_id"], "abc");
  EXPECT_FALSE(ok.contains("trace_id"));
  const json own = Parse(HaproxyLogLine(
      "[WARNING]  (1234) : Server backend/backend-r1-a1 is DOWN, reason: Layer4 connection problem",
      origin));
  EXPECT_EQ(own["level"], "WARN");
  EXPECT_EQ(own["msg"], "Server backend/backend-r1-a1 is DOWN, reason: Layer4 connection problem");
  EXPECT_EQ(Parse(HaproxyLogLine("[ALERT]    (1) : config: bad", origin))["level"], "ERROR");
}

class CollectingSink final : public LogSink {
 public:
  void Write(std::string_view line) override {
    absl::MutexLock lock(&mu);
    lines.emplace_back(line);
  }
  // Waits (bounded, 10 s) until `n` lines have come: a thread of ours writes them.
  bool WaitFor(size_t n) {
    absl::MutexLock lock(&mu);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return lines.size() >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  absl::Mutex mu;
  std::vector<std::string> lines;
};

class LogFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / absl::StrCat("hut-follow-", getpid(), "-",
                                                    ::testing::UnitTest::GetInstance()->random_seed());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Append(const std::string& name, const std::string& text) {
    std::ofstream(Path(name), std::ios::app) << text;
  }
  static LogFollower::Convert Echo() {
    return [](std::string_view line) { return std::optional<std::string>(std::string(line)); };
  }
  fs::path dir_;
  hut::testing::FakeClock clock_;
};

TEST_F(LogFollowerTest, PassesCompleteLinesOnlyFromTheStartOfAFileNeverRead) {
  Append("a.log", "written before\n");
  CollectingSink sink;
  LogFollower follower("", sink, clock_);
  follower.Follow(Path("a.log"), Echo());
  EXPECT_EQ(follower.Poll(), 1);
  EXPECT_EQ(follower.Poll(), 0);
  Append("a.log", "one\ntw");
  EXPECT_EQ(follower.Poll(), 1);
  Append("a.log", "o\r\n\nthree\n" + std::string(100, '-') + "\n");
  EXPECT_EQ(follower.Poll(), 3);
  Append("a.log", "four\n");  // past the bytes it checks for a rewrite
  EXPECT_EQ(follower.Poll(), 1);
  EXPECT_THAT(sink.lines, ::testing::ElementsAre("written before", "one", "two", "three",
                                                 std::string(100, '-'), "four"));
}

TEST_F(LogFollowerTest, ReadsAReplacedOrTruncatedFileFromItsStart) {
  CollectingSink sink;
  LogFollower follower("", sink, clock_);
  follower.Follow(Path("a.log"), Echo());  // not there yet: read whole when it is
  Append("a.log", "first\n");
  EXPECT_EQ(follower.Poll(), 1);
  std::ofstream(Path("a.log"), std::ios::trunc) << "after truncation\n";
  EXPECT_EQ(follower.Poll(), 1);
  std::ofstream(Path("b.log")) << "new file 1\nnew file 2\n";
  fs::rename(Path("b.log"), Path("a.log"));
  EXPECT_EQ(follower.Poll(), 2);
  EXPECT_THAT(sink.lines, ::testing::ElementsAre("first", "after truncation", "new file 1",
                                                 "new file 2"));
}

TEST_F(LogFollowerTest, ARestartedFollowerGoesOnWhereItStopped) {
  CollectingSink sink;
  {
    LogFollower follower(Path("positions.json"), sink, clock_);
    follower.Follow(Path("a.log"), Echo());
    Append("a.log", "seen\n");
    EXPECT_EQ(follower.Poll(), 1);
  }
  Append("a.log", "while down 1\nwhile down 2\n");  // hut is not running
  LogFollower again(Path("positions.json"), sink, clock_);
  again.Follow(Path("a.log"), Echo());
  EXPECT_EQ(again.Poll(), 2);
  EXPECT_THAT(sink.lines, ::testing::ElementsAre("seen", "while down 1", "while down 2"));
}

TEST_F(LogFollowerTest, ARunawayLineIsPassedOnInPiecesAndSkippedLinesAreNotCounted) {
  CollectingSink sink;
  LogFollower follower("", sink, clock_);
  follower.Follow(Path("a.log"), [](std::string_view line) -> std::optional<std::string> {
    if (line == "skip") return std::nullopt;
    return std::string(line.substr(0, 10));
  });
  Append("a.log", std::string(150 * 1024, 'x') + "\nskip\nend\n");
  EXPECT_EQ(follower.Poll(), 4);  // 64 KiB + 64 KiB + 22 KiB + "end"
  EXPECT_EQ(sink.lines.back(), "end");
}

TEST_F(LogFollowerTest, ItsThreadFollowsUntilStopped) {
  CollectingSink sink;
  {
    LogFollower follower("", sink, clock_);
    follower.Follow(Path("a.log"), Echo());
    follower.Start(std::chrono::milliseconds(250));
    for (int i = 1; i <= 3; ++i) {
      clock_.WaitForWaiter();  // the thread waits for its next poll
      Append("a.log", absl::StrCat("line ", i, "\n"));
      clock_.Advance(std::chrono::milliseconds(250));
      clock_.WaitForWaiter();  // polled, and waiting again
      absl::MutexLock lock(&sink.mu);
      ASSERT_EQ(sink.lines.size(), static_cast<size_t>(i)) << "line " << i << " not read";
    }
    Append("a.log", "last\n");
  }  // the last poll is in the destructor: the line is not lost
  EXPECT_THAT(sink.lines, ::testing::ElementsAre("line 1", "line 2", "line 3", "last"));
}

// Sends `text` as one datagram to the socket at `path`.
bool Send(const std::string& path, const std::string& text) {
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  const ssize_t n = sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&addr),
                           sizeof addr);
  close(fd);
  return n == static_cast<ssize_t>(text.size());
}

TEST_F(LogFollowerTest, ASocketPassesOnEachDatagramAsALine) {
  CollectingSink sink;
  std::ofstream(Path("log.sock")) << "a stale file where the socket goes";
  {
    auto s = LogSocket::Open(Path("log.sock"), Echo(), sink);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(fs::status(Path("log.sock")).permissions() & fs::perms::all,
              fs::perms::owner_all);  // only its owner may send to it
    ASSERT_TRUE(Send(Path("log.sock"), "first\n"));
    EXPECT_TRUE(sink.WaitFor(1));  // read by its thread
    EXPECT_EQ((*s)->lines(), 1u);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(Send(Path("log.sock"), absl::StrCat("line ", i)));
  }  // what is queued is read before it closes
  ASSERT_EQ(sink.lines.size(), 101u);
  EXPECT_EQ(sink.lines[0], "first");
  EXPECT_EQ(sink.lines[100], "line 99");
  EXPECT_FALSE(fs::exists(Path("log.sock")));
}

TEST_F(LogFollowerTest, ASocketPathTooLongIsAClearError) {
  CollectingSink sink;
  auto s = LogSocket::Open(Path(std::string(120, 'x')), Echo(), sink);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), ::testing::HasSubstr("log socket path too long"));
}

}  // namespace
}  // namespace hut::local
