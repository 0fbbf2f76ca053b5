#include "apps/foohut-api/faults.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hut::foohut {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

TEST(ParseFaultsTest, EmptyMeansNone) {
  absl::StatusOr<Faults> f = ParseFaults("");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, Faults{});
  EXPECT_FALSE(f->any());
  EXPECT_EQ(f->ToString(), "none");
}

TEST(ParseFaultsTest, AllTogether) {
  absl::StatusOr<Faults> f =
      ParseFaults("errors=0.2,latency=300ms,crash_after=10s,unready,ready_after=2s");
  ASSERT_TRUE(f.ok()) << f.status();
  Faults want;
  want.errors = 0.2;
  want.latency = milliseconds(300);
  want.crash_after = seconds(10);
  want.unready = true;
  want.ready_after = seconds(2);
  EXPECT_EQ(*f, want);
  EXPECT_EQ(f->ToString(), "errors=0.2,latency=300ms,crash_after=10s,unready,ready_after=2s");
}

Faults Make(double errors, Duration latency, std::optional<Duration> crash_after, bool unready) {
  Faults f;
  f.errors = errors;
  f.latency = latency;
  f.crash_after = crash_after;
  f.unready = unready;
  return f;
}

TEST(ParseFaultsTest, GoodTable) {
  struct Case {
    const char* text;
    Faults want;
  };
  const Duration zero(0);
  const Case cases[] = {
      {"errors=1", Make(1.0, zero, std::nullopt, false)},
      {"errors=0", Make(0.0, zero, std::nullopt, false)},
      {"errors=20%", Make(0.2, zero, std::nullopt, false)},
      {" errors = 0.5 , unready ", Make(0.5, zero, std::nullopt, true)},
      {"latency=1s500ms", Make(0, milliseconds(1500), std::nullopt, false)},
      {"crash_after=0s", Make(0, zero, zero, false)},
      {"unready=true", Make(0, zero, std::nullopt, true)},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Faults> f = ParseFaults(c.text);
    ASSERT_TRUE(f.ok()) << c.text << ": " << f.status();
    EXPECT_EQ(*f, c.want) << c.text;
  }
}

TEST(ParseFaultsTest, BadTable) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"errors=1.5", "errors: \"1.5\" is not a fraction"},
      {"errors=-0.1", "errors: \"-0.1\" is not a fraction"},
      {"errors=abc", "errors: \"abc\" is not a fraction"},
      {"errors=", "\"errors\" needs a value"},
      {"errors", "\"errors\" needs a value"},
      {"errors=150%", "errors:"},
      {"latency=fast", "latency:"},
      {"latency=300", "latency:"},
      {"crash_after=-1s", "crash_after:"},
      {"unready=false", "unready takes no value"},
      {"explode=1", "unknown fault \"explode\""},
      {"errors=0.1,errors=0.2", "\"errors\" given twice"},
      {"errors=0.1,,unready", "empty item"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Faults> f = ParseFaults(c.text);
    ASSERT_FALSE(f.ok()) << c.text;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(f.status().message()), HasSubstr(c.error)) << c.text;
  }
}

TEST(ShouldInjectErrorTest, Boundaries) {
  EXPECT_FALSE(ShouldInjectError(0.0, 0.0));
  EXPECT_TRUE(ShouldInjectError(1.0, 0.999999));
  EXPECT_TRUE(ShouldInjectError(0.2, 0.19));
  EXPECT_FALSE(ShouldInjectError(0.2, 0.2));
}

}  // namespace
}  // namespace hut::foohut
