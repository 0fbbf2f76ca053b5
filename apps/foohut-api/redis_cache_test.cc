// RedisCache against the real Redis of backends_env.h.
#include "apps/foohut-api/redis_cache.h"

#include "apps/foohut-api/backends_env.h"
#include "gtest/gtest.h"
#include "testing/fake_clock.h"

namespace hut::foohut {
namespace {

using std::chrono::milliseconds;

RedisAddress Address() { return TestBackends().redis_address(); }

// Redis runs with ACLs: no password, or a wrong one, is a clear error.
TEST(RedisCacheTest, WrongPasswordIsRefused) {
  testing::FakeClock clock;
  RedisAddress address = Address();
  address.password = Secret("guess");
  RedisCache cache(address, clock);
  absl::Status ping = cache.Ping();
  ASSERT_FALSE(ping.ok());
  EXPECT_NE(ping.message().find("AUTH as foohut refused: WRONGPASS"), std::string::npos) << ping;
  RedisCache anonymous({"127.0.0.1", TestBackends().redis_port()}, clock);
  EXPECT_FALSE(anonymous.Get("k").ok());
}

TEST(RedisCacheTest, SetGetMiss) {
  testing::FakeClock clock;
  RedisCache cache(Address(), clock);
  const std::string key = "test:" + RandomHexForTest(8);
  absl::StatusOr<std::optional<std::string>> got = cache.Get(key);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
  std::string value("binary\0value", 12);
  ASSERT_TRUE(cache.Set(key, value, std::chrono::seconds(60)).ok());
  got = cache.Get(key);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value_or(""), value);
  EXPECT_TRUE(cache.Ping().ok());
}

TEST(RedisCacheTest, DownThenBack) {
  testing::FakeClock clock;
  RedisCache cache(Address(), clock);
  const std::string key = "test:" + RandomHexForTest(8);
  ASSERT_TRUE(cache.Set(key, "v", std::chrono::seconds(60)).ok());

  TestBackends().StopRedis();
  EXPECT_EQ(cache.Get(key).status().code(), absl::StatusCode::kUnavailable);
  // Within the back-off, no reconnect attempt: fails at once, says why.
  absl::Status backing_off = cache.Get(key).status();
  EXPECT_EQ(backing_off.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(backing_off.message().find("backing off"), absl::string_view::npos) << backing_off;
  EXPECT_EQ(cache.Ping().code(), absl::StatusCode::kUnavailable);

  TestBackends().StartRedis();
  EXPECT_EQ(cache.Get(key).status().code(), absl::StatusCode::kUnavailable);  // still backing off
  EXPECT_TRUE(cache.Ping().ok());  // Ping always tries, and success ends the back-off
  absl::StatusOr<std::optional<std::string>> got = cache.Get(key);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value_or(""), "v");  // append-only file: data survived
}

TEST(RedisCacheTest, BackoffEndsWithTime) {
  testing::FakeClock clock;
  RedisCacheOptions options;
  options.backoff = milliseconds(1000);
  RedisCache cache({"127.0.0.1", testing::PickFreePort()}, clock, options);  // nobody there
  EXPECT_NE(cache.Get("k").status().message().find("connect"), absl::string_view::npos);
  EXPECT_NE(cache.Get("k").status().message().find("backing off"), absl::string_view::npos);
  clock.Advance(milliseconds(1001));
  EXPECT_NE(cache.Get("k").status().message().find("connect"), absl::string_view::npos);
}

}  // namespace
}  // namespace hut::foohut
