#include "src/common/log.h"

#include <gtest/gtest.h>

#include "src/common/secret.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"

namespace hut {
namespace {

TEST(LoggerTest, WritesOneJsonObjectPerLineWithFixedKeysFirst) {
  testing::CaptureLogSink sink;
  testing::FakeClock clock;
  Logger log(sink, clock, "api");
  log.Info("started", {{"port", 8080}});
  ASSERT_EQ(sink.lines().size(), 1u);
  EXPECT_EQ(sink.lines()[0],
            R"({"ts":"2026-01-01T00:00:00.000Z","level":"INFO","msg":"started",)"
            R"("component":"api","port":8080})");
}

TEST(LoggerTest, BoundFieldsAppearOnEveryLine) {
  testing::CaptureLogSink sink;
  testing::FakeClock clock;
  Logger log = Logger(sink, clock, "api").With({{"trace_id", "abc"}, {"request_id", "r1"}});
  log.Warn("slow");
  log.Error("failed", {{"code", 500}});
  auto lines = sink.Parsed();
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& l : lines) {
    EXPECT_EQ(l["trace_id"], "abc");
    EXPECT_EQ(l["request_id"], "r1");
  }
  EXPECT_EQ(lines[0]["level"], "WARN");
  EXPECT_EQ(lines[1]["level"], "ERROR");
  EXPECT_EQ(lines[1]["code"], 500);
}

TEST(LoggerTest, LevelFilters) {
  testing::CaptureLogSink sink;
  testing::FakeClock clock;
  Logger log(sink, clock, "x", LogLevel::kWarn);
  log.Debug("d");
  log.Info("i");
  log.Warn("w");
  EXPECT_EQ(sink.lines().size(), 1u);
  EXPECT_EQ(ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("nope"), std::nullopt);
}

TEST(LoggerTest, CallerCannotOverwriteFixedKeys) {
  testing::CaptureLogSink sink;
  testing::FakeClock clock;
  Logger(sink, clock, "x").Info("real", {{"msg", "fake"}, {"level", "DEBUG"}});
  auto l = sink.Parsed().at(0);
  EXPECT_EQ(l["msg"], "real");
  EXPECT_EQ(l["level"], "INFO");
}

TEST(LoggerTest, SecretsAreRedactedInLogLines) {
  testing::CaptureLogSink sink;
  testing::FakeClock clock;
  Secret password("hunter2-very-secret");
  Logger(sink, clock, "x").Info("login", {{"password", password}});
  EXPECT_EQ(sink.lines().at(0).find("hunter2"), std::string::npos);
  EXPECT_NE(sink.lines().at(0).find("[REDACTED]"), std::string::npos);
}

TEST(LoggerTest, InvalidUtf8DoesNotThrow) {
  testing::CaptureLogSink sink;
  testing::FakeClock clock;
  Logger(sink, clock, "x").Info("bad \xff byte");
  EXPECT_EQ(sink.lines().size(), 1u);
}

TEST(FormatTimestampTest, Rfc3339Millis) {
  TimePoint t = TimePoint(std::chrono::milliseconds(1764343473123));
  EXPECT_EQ(FormatTimestamp(t), "2025-11-28T15:24:33.123Z");
}

}  // namespace
}  // namespace hut
