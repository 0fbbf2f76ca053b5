#include "src/common/units.h"

#include <gtest/gtest.h>

namespace hut {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, AcceptsEveryUnit) {
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("2s"), milliseconds(2000));
  EXPECT_EQ(*ParseDuration("2m"), milliseconds(120'000));
  EXPECT_EQ(*ParseDuration("4h"), milliseconds(4 * 3'600'000));
  EXPECT_EQ(*ParseDuration("30d"), milliseconds(30LL * 86'400'000));
  EXPECT_EQ(*ParseDuration("1w"), milliseconds(7LL * 86'400'000));
  EXPECT_EQ(*ParseDuration("1y"), milliseconds(365LL * 86'400'000));
  EXPECT_EQ(*ParseDuration("0s"), milliseconds(0));
}

TEST(ParseDurationTest, AcceptsCompounds) {
  EXPECT_EQ(*ParseDuration("1h30m"), milliseconds(90 * 60'000));
  EXPECT_EQ(*ParseDuration("1m59s"), milliseconds(119'000));
}

TEST(ParseDurationTest, RejectsWithClearMessages) {
  struct Case {
    const char* in;
    const char* message_part;
  };
  for (const Case& c : {Case{"", "empty duration"}, Case{"5", "has no unit"},
                        Case{"5x", "unknown unit \"x\""}, Case{"m", "expected a whole number"},
                        Case{"-5s", "expected a whole number"}, Case{"1.5s", "unknown unit \".\""},
                        Case{"99999999999999999999s", "too large"},
                        Case{"9999999999999999y", "too large"}}) {
    auto d = ParseDuration(c.in);
    ASSERT_FALSE(d.ok()) << c.in;
    EXPECT_NE(d.status().message().find(c.message_part), std::string::npos)
        << c.in << " -> " << d.status().message();
  }
}

TEST(FormatDurationTest, RoundTrips) {
  for (const char* s : {"0s", "500ms", "2m", "1m30s", "30d", "1d1h1m1s1ms"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(s)), s);
  }
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "1m30s");
}

TEST(ParsePercentTest, AcceptsAndRejects) {
  EXPECT_DOUBLE_EQ(*ParsePercent("5%"), 0.05);
  EXPECT_DOUBLE_EQ(*ParsePercent("0.5%"), 0.005);
  EXPECT_DOUBLE_EQ(*ParsePercent("100%"), 1.0);
  EXPECT_DOUBLE_EQ(*ParsePercent("0%"), 0.0);
  EXPECT_FALSE(ParsePercent("5").ok());
  EXPECT_FALSE(ParsePercent("%").ok());
  EXPECT_FALSE(ParsePercent("abc%").ok());
  EXPECT_FALSE(ParsePercent("5 %").ok());
  auto over = ParsePercent("101%");
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("out of range"), std::string::npos);
  EXPECT_FALSE(ParsePercent("-1%").ok());
}

TEST(FormatPercentTest, TrimsZeros) {
  EXPECT_EQ(FormatPercent(0.05), "5%");
  EXPECT_EQ(FormatPercent(0.182), "18.2%");
  EXPECT_EQ(FormatPercent(0.00126), "0.13%");
}

}  // namespace
}  // namespace hut
