#include "src/logs/log_record.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace hut::logs {
namespace {

using json = nlohmann::json;
const TimePoint kReceived{std::chrono::milliseconds(1'767'225'600'000)};  // 2026-01-01T00:00:00Z

TEST(ParseLogLineTest, ReadsTheIndexedFieldsAndKeepsTheLine) {
  const std::string line =
      R"({"ts":"2026-12-04T21:22:00.123Z","level":"WARN","msg":"slow","component":"http",)"
      R"("service":"backend","version":"1.2.0","replica":"backend-2","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
      R"("request_id":"r-1","extra":{"a":1}})";
  const LogRecord r = ParseLogLine(line, kReceived, "hut");
  EXPECT_EQ(r.ts_ms, 1'796'419'320'123);
  EXPECT_EQ(r.level, LogLevel::kWarn);
  EXPECT_EQ(r.service, "backend");
  EXPECT_EQ(r.version, "1.2.0");
  EXPECT_EQ(r.replica, "backend-2");
  EXPECT_EQ(r.component, "http");
  EXPECT_EQ(r.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(r.request_id, "r-1");
  EXPECT_EQ(r.line, line);
}

TEST(ParseLogLineTest, ALineWithoutServiceGetsTheDefaultInTheLineToo) {
  const LogRecord r = ParseLogLine(R"({"ts":"2026-12-04T21:22:00.123Z","msg":"tick"})", kReceived, "hut");
  EXPECT_EQ(r.service, "hut");
  const json j = json::parse(r.line);
  EXPECT_EQ(j["service"], "hut");
  EXPECT_EQ(j["msg"], "tick");
  EXPECT_EQ(ParseLogLine(r.line, kReceived, "other").service, "hut");
  EXPECT_EQ(json::parse(ParseLogLine("{}", kReceived, "hut").line), json({{"service", "hut"}}));
}

TEST(ParseLogLineTest, ATextLineIsWrappedAsInfoAtItsArrival) {
  const LogRecord r = ParseLogLine("panic: \"oops\"", kReceived, "backend");
  EXPECT_EQ(r.ts_ms, 1'767'225'600'000);
  EXPECT_EQ(r.level, LogLevel::kInfo);
  EXPECT_EQ(r.service, "backend");
  const json j = json::parse(r.line);
  EXPECT_EQ(j["msg"], "panic: \"oops\"");
  EXPECT_EQ(j["ts"], "2026-01-01T00:00:00.000Z");
}

TEST(ParseTimestampTest, TheFastPathAndRfc3339Agree) {
  EXPECT_EQ(ParseTimestampMs("1970-01-01T00:00:00.000Z"), 0);
  EXPECT_EQ(ParseTimestampMs("2026-12-04T21:22:00.123Z"), ParseTimestampMs("2026-12-04T22:22:00.123+01:00"));
  EXPECT_EQ(ParseTimestampMs("2024-02-29T12:00:00.000Z"), 1'709'208'000'000);
  EXPECT_EQ(ParseTimestampMs("2026-12-04T21:22:00Z"), 1'796'419'320'000);
  EXPECT_EQ(ParseTimestampMs("yesterday"), std::nullopt);
  EXPECT_EQ(ParseTimestampMs("2026-13-04T21:22:00.123Z"), std::nullopt);
}

}  // namespace
}  // namespace hut::logs
