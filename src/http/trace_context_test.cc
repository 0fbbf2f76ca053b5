#include "src/http/trace_context.h"

#include <gtest/gtest.h>

#include <set>

namespace hut::http {
namespace {

constexpr char kTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";  // pragma: allowlist secret (W3C's example trace id)
constexpr char kParent[] = "00f067aa0ba902b7";

TEST(ParseTraceparentTest, Valid) {
  std::optional<TraceContext> c =
      ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->trace_id, kTrace);
  EXPECT_EQ(c->parent_id, kParent);
  EXPECT_EQ(c->flags, 1);
}

TEST(ParseTraceparentTest, Table) {
  struct Case {
    std::string value;
    bool valid;
  };
  const std::string t = kTrace;
  const std::string p = kParent;
  const Case cases[] = {
      {"00-" + t + "-" + p + "-01", true},
      {"00-" + t + "-" + p + "-00", true},
      {"00-" + t + "-" + p + "-ff", true},  // unknown flags are kept
      // Future versions: same prefix, more fields after a '-'.
      {"01-" + t + "-" + p + "-01", true},
      {"cc-" + t + "-" + p + "-01-what-the-future-will-be-like", true},
      {"cc-" + t + "-" + p + "-01what", false},
      {"ff-" + t + "-" + p + "-01", false},
      // Version 00 has exactly 55 characters.
      {"00-" + t + "-" + p + "-01-extra", false},
      {"00-" + t + "-" + p + "-01 ", false},
      {"00-" + t + "-" + p + "-1", false},
      // All-zero ids.
      {"00-00000000000000000000000000000000-" + p + "-01", false},
      {"00-" + t + "-0000000000000000-01", false},
      // Uppercase or non-hex anywhere.
      {"00-4BF92F3577B34DA6A3CE929D0E0E4736-" + p + "-01", false},
      {"00-" + t + "-00F067AA0BA902B7-01", false},
      {"0A-" + t + "-" + p + "-01", false},
      {"00-" + t + "-" + p + "-0G", false},
      {"00-" + t + "-" + p + "-0A", false},
      {"00-4bf92f3577b34da6a3ce929d0e0e473g-" + p + "-01", false},
      {"zz-" + t + "-" + p + "-01", false},
      // Wrong separators or lengths.
      {"00_" + t + "-" + p + "-01", false},
      {"00-" + t + "_" + p + "-01", false},
      {"00-" + t + "-" + p + "_01", false},
      {"00-" + t.substr(1) + "-" + p + "-01", false},
      {"00-" + t + "-" + p.substr(1) + "-01", false},
      {"00-" + t + "0-" + p + "-01", false},
      {"", false},
      {"garbage", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseTraceparent(c.value).has_value(), c.valid) << c.value;
  }
}

TEST(TraceContextForTest, KeepsValidTraceWithFreshSpan) {
  TraceContext c = TraceContextFor("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(c.trace_id, kTrace);
  EXPECT_EQ(c.parent_id, kParent);
  EXPECT_EQ(c.flags, 1);
  EXPECT_EQ(c.span_id.size(), 16u);
  EXPECT_NE(c.span_id, kParent);
  std::optional<TraceContext> echoed = ParseTraceparent(c.ToTraceparent());
  ASSERT_TRUE(echoed.has_value());
  EXPECT_EQ(echoed->trace_id, kTrace);
  EXPECT_EQ(echoed->parent_id, c.span_id);
  EXPECT_EQ(c.ToTraceparent(), "00-" + std::string(kTrace) + "-" + c.span_id + "-01");
}

TEST(TraceContextForTest, FreshWhenAbsentOrInvalid) {
  for (std::optional<std::string_view> in :
       {std::optional<std::string_view>(), std::optional<std::string_view>("garbage")}) {
    TraceContext c = TraceContextFor(in);
    EXPECT_EQ(c.trace_id.size(), 32u);
    EXPECT_EQ(c.span_id.size(), 16u);
    EXPECT_EQ(c.parent_id, "");
    EXPECT_TRUE(ParseTraceparent(c.ToTraceparent()).has_value()) << c.ToTraceparent();
  }
  EXPECT_NE(TraceContextFor(std::nullopt).trace_id, TraceContextFor(std::nullopt).trace_id);
}

TEST(RequestIdForTest, AcceptsValidElseGenerates) {
  EXPECT_EQ(RequestIdFor("req-123"), "req-123");
  EXPECT_EQ(RequestIdFor("a.b_c:d-E9"), "a.b_c:d-E9");
  EXPECT_EQ(RequestIdFor(std::string(128, 'a')), std::string(128, 'a'));
  for (std::optional<std::string_view> bad :
       {std::optional<std::string_view>(), std::optional<std::string_view>(""),
        std::optional<std::string_view>("bad id"), std::optional<std::string_view>("x\r\ny"),
        std::optional<std::string_view>("ü")}) {
    std::string id = RequestIdFor(bad);
    EXPECT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  }
  std::string long_id(129, 'a');
  EXPECT_NE(RequestIdFor(long_id), long_id);
}

TEST(RandomHexTest, LengthAndUniqueness) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string h = RandomHex(8);
    EXPECT_EQ(h.size(), 16u);
    EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(h);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(RandomHex(0), "");
}

}  // namespace
}  // namespace hut::http
