// The hot store, the cold archive, retention and the collector, on real
// SQLite files and a real folder, with the clock faked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/logs/log_service.h"
#include "testing/fake_clock.h"

namespace hut::logs {
namespace {

using json = nlohmann::json;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
constexpr int64_t kDay = 86'400'000;
// 2026-01-01T00:00:00Z, the fake clock's start.
constexpr int64_t kStart = 1'767'225'600'000;

std::string Line(int64_t ts_ms, std::string_view level, std::string_view service, std::string_view msg,
                 std::string_view trace = "", std::string_view version = "v1") {
  json j = {{"ts", FormatTimestamp(TimePoint(milliseconds(ts_ms)))},
            {"level", level},
            {"msg", msg},
            {"service", service},
            {"version", version},
            {"replica", absl::StrCat(std::string(service), "-1")}};
  if (!trace.empty()) j["trace_id"] = trace;
  return j.dump();
}

// A query with what `set` sets (designated initializers would leave fields
// unnamed, which -Wmissing-field-initializers reports).
template <typename F>
LogQuery With(F set) {
  LogQuery q;
  set(q);
  return q;
}

std::vector<std::string> Msgs(const std::vector<LogLine>& lines) {
  std::vector<std::string> out;
  for (const LogLine& l : lines) out.push_back(json::parse(l.line)["msg"]);
  return out;
}

class LogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/logs-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    auto hot = HotLogStore::Open(dir_ + "/hot");
    ASSERT_TRUE(hot.ok()) << hot.status();
    hot_ = std::move(*hot);
    auto cold = objectstore::FolderObjectStore::Open(dir_ + "/cold");
    ASSERT_TRUE(cold.ok()) << cold.status();
    cold_store_ = std::move(*cold);
    archive_ = std::make_unique<ColdLogArchive>(*cold_store_, "logs/production/");
  }
  void Append(const std::vector<std::string>& lines) {
    std::vector<LogRecord> batch;
    for (const std::string& l : lines) batch.push_back(ParseLogLine(l, TimePoint{}, ""));
    ASSERT_TRUE(hot_->Append(batch).ok());
  }
  std::vector<std::string> Find(LogQuery q) {
    auto r = hot_->Query(q);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? Msgs(r->lines) : std::vector<std::string>{};
  }

  std::string dir_;
  std::unique_ptr<HotLogStore> hot_;
  std::unique_ptr<objectstore::FolderObjectStore> cold_store_;
  std::unique_ptr<ColdLogArchive> archive_;
};

TEST_F(LogStoreTest, FindsByServiceTraceLevelVersionTextAndTime) {
  Append({Line(kStart + 1000, "INFO", "backend", "a", "t1"),
          Line(kStart + 2000, "WARN", "backend", "b", "t2", "v2"),
          Line(kStart + 3000, "ERROR", "frontend", "c", "t1"),
          Line(kStart + kDay + 4000, "DEBUG", "backend", "d needle", "t1")});
  EXPECT_EQ(Find({}), (std::vector<std::string>{"a", "b", "c", "d needle"}));
  EXPECT_EQ(Find(With([&](LogQuery& q) { q.service = "backend"; })), (std::vector<std::string>{"a", "b", "d needle"}));
  EXPECT_EQ(Find(With([&](LogQuery& q) { q.trace_id = "t1"; })), (std::vector<std::string>{"a", "c", "d needle"}));
  EXPECT_EQ(Find(With([&](LogQuery& q) { q.level = LogLevel::kWarn; })), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Find(With([&](LogQuery& q) { q.version = "v2"; })), std::vector<std::string>{"b"});
  EXPECT_EQ(Find(With([&](LogQuery& q) { q.grep = "needle"; })), std::vector<std::string>{"d needle"});
  EXPECT_EQ(Find(With([&](LogQuery& q) { q.from_ms = kStart + 2000; q.to_ms = kStart + kDay; })), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(hot_->Days(), (std::vector<Day>{DayOf(kStart), DayOf(kStart) + 1}));
}

TEST_F(LogStoreTest, KeepsTheNewestLinesPastTheLimitAndSaysSo) {
  std::vector<std::string> lines;
  for (int i = 0; i < 10; ++i) lines.push_back(Line(kStart + i * (kDay / 4), "INFO", "backend", std::to_string(i)));
  Append(lines);
  auto r = hot_->Query(With([&](LogQuery& q) { q.limit = 3; }));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(Msgs(r->lines), (std::vector<std::string>{"7", "8", "9"}));
  r = hot_->Query(With([&](LogQuery& q) { q.limit = 10; }));
  EXPECT_FALSE(r->truncated);
}

TEST_F(LogStoreTest, AfterACursorOnlyWhatCameSinceInTheOrderStored) {
  Append({Line(kStart + 1000, "INFO", "backend", "a"), Line(kStart + 2000, "INFO", "backend", "b")});
  auto first = hot_->Query({});
  ASSERT_TRUE(first.ok());
  const int64_t cursor = first->lines.back().cursor;
  // A late line with an older time still comes after the cursor.
  Append({Line(kStart + 500, "INFO", "backend", "late"), Line(kStart + kDay, "INFO", "backend", "next day")});
  EXPECT_EQ(Find(With([&](LogQuery& q) { q.after = cursor; })), (std::vector<std::string>{"late", "next day"}));
  auto all = hot_->Query(With([&](LogQuery& q) { q.after = cursor; }));
  EXPECT_EQ(Find(With([&](LogQuery& q) { q.after = all->lines.back().cursor; })), std::vector<std::string>{});
}

// ADR-009: 30 days hot, then a year cold, then gone; nothing lost between.
TEST_F(LogStoreTest, RetentionMovesADayToColdAtDay30AndDeletesItAtOneYear) {
  const spec::LoggingPolicy policy;  // 30 d hot, 365 d cold
  ASSERT_EQ(policy.hot_retention, hours(24 * 30));
  std::vector<std::string> day;  // a line a minute for a day, two services
  for (int m = 0; m < 24 * 60; ++m) {
    day.push_back(Line(kStart + m * 60'000, m % 7 == 0 ? "ERROR" : "INFO", m % 2 ? "backend" : "frontend",
                       std::to_string(m), absl::StrCat("trace-", m % 10)));
  }
  Append(day);
  const Day d = DayOf(kStart);
  const TimePoint end_of_day{milliseconds(kStart + kDay)};

  auto r = EnforceRetention(*hot_, *archive_, policy, end_of_day + hours(24 * 30) - minutes(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->archived.empty());
  EXPECT_EQ(hot_->Days(), std::vector<Day>{d});

  r = EnforceRetention(*hot_, *archive_, policy, end_of_day + hours(24 * 30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->archived, std::vector<Day>{d});
  EXPECT_EQ(r->lines_archived, 1440);
  EXPECT_TRUE(hot_->Days().empty());
  EXPECT_EQ(*archive_->Days(), std::vector<Day>{d});
  EXPECT_EQ(*archive_->Lines(d), 1440);
  auto text = archive_->Read(d);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), 1440);
  EXPECT_EQ(text->substr(0, text->find('\n')), day[0]);
  // Compressed on disk.
  const auto size = std::filesystem::file_size(dir_ + "/cold/logs/production/" + DayName(d) + ".jsonl.zst");
  EXPECT_LT(size, text->size() / 4);

  // Still there at day 364, gone at one year.
  r = EnforceRetention(*hot_, *archive_, policy, end_of_day + hours(24 * 365) - minutes(1));
  EXPECT_TRUE(r->deleted.empty());
  r = EnforceRetention(*hot_, *archive_, policy, end_of_day + hours(24 * 365));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->deleted, std::vector<Day>{d});
  EXPECT_EQ(r->lines_deleted, 1440);
  EXPECT_TRUE(archive_->Days()->empty());
  EXPECT_TRUE(cold_store_->List("")->empty());
}

TEST_F(LogStoreTest, LateLinesJoinTheirArchivedDay) {
  const spec::LoggingPolicy policy;
  Append({Line(kStart + 1000, "INFO", "backend", "a")});
  const TimePoint later{milliseconds(kStart + 31 * kDay)};
  ASSERT_TRUE(EnforceRetention(*hot_, *archive_, policy, later).ok());
  Append({Line(kStart + 2000, "INFO", "backend", "late")});
  auto r = EnforceRetention(*hot_, *archive_, policy, later);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines_archived, 1);
  EXPECT_EQ(*archive_->Lines(DayOf(kStart)), 2);
  EXPECT_TRUE(hot_->Days().empty());
}

class LogServiceTest : public LogStoreTest {
 protected:
  std::unique_ptr<LogService> StartService(size_t max_queued = 200'000) {
    LogServiceOptions o;
    o.hot_dir = dir_ + "/service-hot";
    o.cold = cold_store_.get();
    o.cold_prefix = "logs/production/";
    o.max_queued_lines = max_queued;
    o.flush_interval = milliseconds(10);
    auto s = LogService::Start(o, clock_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  testing::FakeClock clock_{TimePoint(milliseconds(kStart))};
};

TEST_F(LogServiceTest, WhatASinkWritesIsFoundOnceFlushed) {
  auto service = StartService();
  service->SinkFor("hut").Write(R"({"ts":"2026-01-01T00:00:01.000Z","level":"INFO","msg":"mine"})");
  service->SinkFor("backend").Write("plain text");
  service->Flush();
  auto r = service->Query(With([&](LogQuery& q) { q.service = "hut"; }));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Msgs(r->lines), std::vector<std::string>{"mine"});
  r = service->Query(With([&](LogQuery& q) { q.service = "backend"; }));
  EXPECT_EQ(Msgs(r->lines), std::vector<std::string>{"plain text"});
  EXPECT_EQ(service->stats().stored, 2u);
}

TEST_F(LogServiceTest, AQueryFromBeforeTheHotWindowReadsTheColdArchivesToo) {
  auto service = StartService();
  for (int d = 0; d < 40; ++d) {
    service->SinkFor("backend").Write(Line(kStart + d * kDay + 1000, "INFO", "backend", std::to_string(d), "t"));
  }
  service->Flush();
  clock_.WaitForWaiter();  // the scheduler's run at start is done
  // Forty days on, the scheduler runs (and waits again).
  clock_.Set(TimePoint(milliseconds(kStart + 40 * kDay + 5000)));
  clock_.WaitForWaiter();
  EXPECT_EQ(archive_->Days()->size(), 10u);  // days 0..9: their end is 30 days past
  auto r = service->Query(With([&](LogQuery& q) { q.from_ms = kStart; q.trace_id = "t"; }));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines.size(), 40u);
  EXPECT_EQ(r->cold_days_read, 10);
  EXPECT_EQ(Msgs(r->lines).front(), "0");
  EXPECT_EQ(Msgs(r->lines).back(), "39");
  // Within the hot window: no archive is read.
  r = service->Query(With([&](LogQuery& q) { q.from_ms = kStart + 20 * kDay; }));
  EXPECT_EQ(r->cold_days_read, 0);
  EXPECT_EQ(r->lines.size(), 20u);
}

TEST_F(LogServiceTest, TheSchedulerEnforcesRetentionOnTheClock) {
  auto service = StartService();
  service->SinkFor("backend").Write(Line(kStart + 1000, "INFO", "backend", "old"));
  service->Flush();
  // The first run is at start; then the scheduler waits an hour of the clock.
  clock_.WaitForWaiter();
  ASSERT_EQ(service->stats().retention_runs, 1u);
  EXPECT_TRUE(archive_->Days()->empty());
  clock_.Advance(hours(24 * 31));
  clock_.WaitForWaiter();  // it ran and waits again
  EXPECT_EQ(service->stats().retention_runs, 2u);
  EXPECT_EQ(*archive_->Days(), std::vector<Day>{DayOf(kStart)});
  // Not again before an hour of the clock has passed.
  clock_.Advance(minutes(59));
  clock_.WaitForWaiter();
  EXPECT_EQ(service->stats().retention_runs, 2u);
  clock_.Advance(minutes(1));
  clock_.WaitForWaiter();
  EXPECT_EQ(service->stats().retention_runs, 3u);
}

TEST_F(LogServiceTest, AFullQueueDropsAndCountsInsteadOfBlocking) {
  auto service = StartService(/*max_queued=*/16);
  for (int i = 0; i < 20'000; ++i) service->SinkFor("backend").Write(Line(kStart, "INFO", "backend", "x"));
  service->Flush();
  const LogService::Stats s = service->stats();
  EXPECT_EQ(s.received, 20'000u);
  EXPECT_GT(s.dropped, 0u);
  EXPECT_EQ(s.stored + s.dropped, s.received);
  auto r = service->Query(With([&](LogQuery& q) { q.limit = 100'000; }));
  EXPECT_EQ(r->lines.size(), s.stored);
}

}  // namespace
}  // namespace hut::logs
