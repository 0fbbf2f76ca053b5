// The cold tier on S3 (moto's server on loopback speaking S3's API): a day
// archived at day 30 is read back from the bucket, counted, and deleted there
// at one year, as in the folder's test (log_store_test.cc).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/aws/client.h"
#include "src/logs/cold_archive.h"
#include "src/logs/hot_store.h"
#include "src/logs/retention.h"
#include "src/objectstore/s3_object_store.h"
#include "testing/moto_server.h"
#include "testing/test_env.h"

namespace hut::logs {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
constexpr int64_t kDay = 86'400'000;
constexpr int64_t kStart = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

TEST(ColdTierOnS3Test, ADayGoesToTheBucketAtDay30AndLeavesItAtOneYear) {
  auto moto = testing::MotoServer::Start({.authenticate = false});  // listing by prefix: moto_server.h
  ASSERT_TRUE(moto.ok()) << moto.status();
  auto config = aws::ConfigFromEnvironment(
      [&](const std::string& n) { return (*moto)->GetEnv(n); });
  ASSERT_TRUE(config.ok());
  {
    aws::AwsClient client((*moto)->url(), config->region, "s3", config->credentials);
    aws::AwsRequest create;
    create.method = "PUT";
    create.path = "/foohut-logs";
    auto made = client.Send(create);
    ASSERT_TRUE(made.ok() && made->status == 200) << (made.ok() ? made->body : made.status().ToString());
  }
  auto bucket = objectstore::S3ObjectStore::Open({.bucket = "foohut-logs", .prefix = "cold/"}, *config);
  ASSERT_TRUE(bucket.ok()) << bucket.status();
  testing::TempDir dir;
  auto hot = HotLogStore::Open(dir.path() + "/hot");
  ASSERT_TRUE(hot.ok()) << hot.status();
  ColdLogArchive archive(**bucket, "logs/production/");

  std::vector<LogRecord> day;
  for (int m = 0; m < 24 * 60; ++m) {
    const nlohmann::json line = {{"ts", FormatTimestamp(TimePoint(milliseconds(kStart + m * 60'000)))},
                                 {"level", "INFO"}, {"msg", std::to_string(m)},
                                 {"service", "backend"}};
    day.push_back(ParseLogLine(line.dump(), TimePoint{}, ""));
  }
  ASSERT_TRUE((*hot)->Append(day).ok());
  const spec::LoggingPolicy policy;  // 30 d hot, 365 d cold
  const TimePoint end_of_day{milliseconds(kStart + kDay)};

  auto r = EnforceRetention(**hot, archive, policy, end_of_day + hours(24 * 30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines_archived, 1440);
  EXPECT_TRUE((*hot)->Days().empty());
  const Day d = DayOf(kStart);
  EXPECT_THAT(*(*bucket)->List("logs/production/"),
              ::testing::ElementsAre(absl::StrCat("logs/production/", DayName(d), ".json"),
                                     absl::StrCat("logs/production/", DayName(d), ".jsonl.zst")));
  EXPECT_EQ(*archive.Lines(d), 1440);
  auto text = archive.Read(d);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), 1440);

  r = EnforceRetention(**hot, archive, policy, end_of_day + hours(24 * 365));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines_deleted, 1440);
  EXPECT_TRUE((*bucket)->List("")->empty());
}

}  // namespace
}  // namespace hut::logs
