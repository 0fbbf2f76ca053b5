#include "apps/foohut-api/jwt.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"
#include "testing/test_env.h"

namespace hut::foohut {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using ::testing::HasSubstr;

JwtKeySet Keys(std::string active, std::vector<std::string> kids) {
  JwtKeySet set;
  set.active_kid = std::move(active);
  for (const std::string& kid : kids) set.keys.emplace(kid, Secret(std::string(32, kid[1])));
  return set;
}

std::string Message(const absl::StatusOr<JwtClaims>& c) {
  return std::string(c.status().message());
}

class JwtTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
  JwtCodec codec_{Keys("k1", {"k1"}), clock_};
};

TEST_F(JwtTest, SignThenVerify) {
  std::string token = codec_.Sign(42, "ada@foohut.com");
  absl::StatusOr<JwtClaims> claims = codec_.Verify(token);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->sub, 42);
  EXPECT_EQ(claims->email, "ada@foohut.com");
  EXPECT_EQ(claims->iat, clock_.Now());
  EXPECT_EQ(claims->exp, clock_.Now() + hours(1));

  std::vector<std::string> parts = absl::StrSplit(token, '.');
  ASSERT_EQ(parts.size(), 3u);
  nlohmann::json header = nlohmann::json::parse(*Base64UrlDecode(parts[0]));
  EXPECT_EQ(header["alg"], "HS256");
  EXPECT_EQ(header["kid"], "k1");
  EXPECT_EQ(token.find('='), std::string::npos);  // no padding
}

TEST_F(JwtTest, AcceptsTokenFromAnotherImplementation) {
  // Made with Python's hmac/hashlib (header and claims in another key order).
  JwtKeySet set;
  set.active_kid = "k";
  set.keys.emplace("k", Secret("secret-secret-secret-secret-1234"));
  JwtCodec codec(set, clock_);
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsifQ."
      "eyJzdWIiOiIxIiwiZW1haWwiOiJhQGIuYyIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxNzY3MjI5MjAwfQ."
      "dOSUJo6bwogyneeh_J9NBYEhT08KHVEEauQr2baxdhU";  // pragma: allowlist secret (RFC 7515 example)
  absl::StatusOr<JwtClaims> claims = codec.Verify(token);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->sub, 1);
  EXPECT_EQ(claims->email, "a@b.c");
  // Signing is deterministic: same input, same token.
  EXPECT_EQ(codec.Sign(1, "a@b.c"), codec.Sign(1, "a@b.c"));
}

TEST_F(JwtTest, TamperedSignatureRefused) {
  std::string token = codec_.Sign(42, "ada@foohut.com");
  token.back() = token.back() == 'A' ? 'B' : 'A';
  EXPECT_THAT(Message(codec_.Verify(token)), HasSubstr("bad signature"));
}

TEST_F(JwtTest, TamperedPayloadRefused) {
  std::string token = codec_.Sign(42, "ada@foohut.com");
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  nlohmann::json payload = nlohmann::json::parse(*Base64UrlDecode(parts[1]));
  payload["sub"] = "1";
  std::string forged = absl::StrCat(parts[0], ".", Base64UrlEncode(payload.dump()), ".", parts[2]);
  EXPECT_THAT(Message(codec_.Verify(forged)), HasSubstr("bad signature"));
}

TEST_F(JwtTest, AlgNoneRefused) {
  std::string token = codec_.Sign(42, "ada@foohut.com");
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  std::string header = Base64UrlEncode(R"({"alg":"none","typ":"JWT","kid":"k1"})");
  EXPECT_THAT(Message(codec_.Verify(absl::StrCat(header, ".", parts[1], "."))), HasSubstr("HS256"));
  EXPECT_THAT(Message(codec_.Verify(absl::StrCat(header, ".", parts[1], ".", parts[2]))),
              HasSubstr("HS256"));
  std::string hs512 = Base64UrlEncode(R"({"alg":"HS512","kid":"k1"})");
  EXPECT_THAT(Message(codec_.Verify(absl::StrCat(hs512, ".", parts[1], ".", parts[2]))),
              HasSubstr("HS256"));
}

TEST_F(JwtTest, Expired) {
  std::string token = codec_.Sign(42, "ada@foohut.com");
  clock_.Advance(hours(1) - seconds(1));
  EXPECT_TRUE(codec_.Verify(token).ok());
  clock_.Advance(seconds(31));  // past exp + 30 s leeway
  absl::StatusOr<JwtClaims> claims = codec_.Verify(token);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(Message(claims), HasSubstr("expired"));
}

TEST_F(JwtTest, IssuedInTheFutureRefused) {
  testing::FakeClock future;
  future.Advance(hours(2));
  JwtCodec issuer(Keys("k1", {"k1"}), future);
  EXPECT_THAT(Message(codec_.Verify(issuer.Sign(1, "a@b.c"))), HasSubstr("future"));
}

TEST_F(JwtTest, UnknownKidRefused) {
  JwtCodec other(Keys("k9", {"k9"}), clock_);
  EXPECT_THAT(Message(codec_.Verify(other.Sign(1, "a@b.c"))), HasSubstr("unknown key id"));
}

TEST_F(JwtTest, SameKidOtherKeyRefused) {
  JwtKeySet set;
  set.active_kid = "k1";
  set.keys.emplace("k1", Secret(std::string(32, 'z')));
  JwtCodec other(set, clock_);
  EXPECT_THAT(Message(codec_.Verify(other.Sign(1, "a@b.c"))), HasSubstr("bad signature"));
}

TEST_F(JwtTest, KeyRotation) {
  // Phase 1: only k1. Phase 2: k2 added and active, k1 still verifies.
  // Phase 3: k1 dropped; its tokens no longer verify.
  std::string old_token = codec_.Sign(7, "a@b.c");
  JwtCodec rotated(Keys("k2", {"k1", "k2"}), clock_);
  std::string new_token = rotated.Sign(7, "a@b.c");
  EXPECT_TRUE(rotated.Verify(old_token).ok());
  EXPECT_TRUE(rotated.Verify(new_token).ok());
  EXPECT_FALSE(codec_.Verify(new_token).ok());  // old replicas don't know k2 yet
  JwtCodec retired(Keys("k2", {"k2"}), clock_);
  EXPECT_TRUE(retired.Verify(new_token).ok());
  EXPECT_THAT(Message(retired.Verify(old_token)), HasSubstr("unknown key id"));
}

TEST_F(JwtTest, GarbageRefused) {
  for (const char* token : {"", "a", "a.b", "a.b.c.d", "!!!.???.***", "e30.e30.", "e30.e30.e30"}) {
    absl::StatusOr<JwtClaims> c = codec_.Verify(token);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnauthenticated) << token;
  }
}

TEST(Base64UrlTest, RoundTrip) {
  std::string bytes = "\xfb\xff\x00\x01 hello";
  bytes.push_back('\0');
  std::string text = Base64UrlEncode(bytes);
  EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
  EXPECT_EQ(*Base64UrlDecode(text), bytes);
  EXPECT_FALSE(Base64UrlDecode("a+b/").ok());
}

// A rotation, as the codec sees it: the new key first only verifies, then
// signs; tokens of the old key keep verifying until it leaves the set.
TEST_F(JwtTest, ReplacingTheKeySetRotatesWithoutLoggingAnyoneOut) {
  const std::string old_token = codec_.Sign(7, "a@example.com");
  codec_.Replace(Keys("k1", {"k1", "k2"}));  // k2 known, k1 still signs
  EXPECT_TRUE(codec_.Verify(old_token).ok());
  codec_.Replace(Keys("k2", {"k1", "k2"}));  // k2 signs
  const std::string new_token = codec_.Sign(7, "a@example.com");
  EXPECT_EQ(codec_.active_kid(), "k2");
  EXPECT_TRUE(codec_.Verify(old_token).ok()) << "the overlap";
  EXPECT_TRUE(codec_.Verify(new_token).ok());
  codec_.Replace(Keys("k2", {"k2"}));  // k1 retired
  EXPECT_THAT(Message(codec_.Verify(old_token)), HasSubstr("unknown key id"));
  EXPECT_TRUE(codec_.Verify(new_token).ok());
}

std::string KeyFile(const std::string& active, const std::vector<std::string>& kids) {
  nlohmann::json j = {{"active_kid", active}, {"keys", nlohmann::json::object()}};
  // 32 bytes each (base64 of "01234567890123456789012345678901").
  for (const std::string& kid : kids) j["keys"][kid] = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=";
  return j.dump();
}

TEST(JwtKeyFileWatcherTest, ANewFileIsTakenAndABadOneIgnored) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/keys.json";
  std::ofstream(path) << KeyFile("k1", {"k1"});
  testing::FakeClock clock;
  JwtCodec codec(*LoadJwtKeySet(path), clock);
  testing::CaptureLogSink sink;
  Logger log(sink, clock, "jwt");
  JwtKeyFileWatcher watcher(path, codec, log, clock, std::chrono::hours(1));  // checked by hand below
  EXPECT_FALSE(watcher.CheckNow()) << "unchanged";
  std::ofstream(path) << KeyFile("k2", {"k1", "k2"});
  EXPECT_TRUE(watcher.CheckNow());
  EXPECT_EQ(codec.active_kid(), "k2");
  EXPECT_EQ(codec.kids(), (std::vector<std::string>{"k1", "k2"}));
  std::ofstream(path) << R"({"active_kid": "k3", "keys": {}})";
  EXPECT_FALSE(watcher.CheckNow());
  EXPECT_EQ(codec.active_kid(), "k2") << "a bad file changes nothing";
  std::string logged;
  for (const std::string& line : sink.lines()) logged += line + "\n";
  EXPECT_THAT(logged, HasSubstr("is not valid; keeping the current keys"));
  EXPECT_THAT(logged, ::testing::Not(HasSubstr("MDEy"))) << "no key in the log";
}

// The watcher's own thread finds a change at its next interval.
TEST(JwtKeyFileWatcherTest, ItsThreadTakesAChangeAtTheNextInterval) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/keys.json";
  std::ofstream(path) << KeyFile("k1", {"k1"});
  testing::FakeClock clock;
  JwtCodec codec(*LoadJwtKeySet(path), clock);
  testing::CaptureLogSink sink;
  Logger log(sink, clock, "jwt");
  JwtKeyFileWatcher watcher(path, codec, log, clock, std::chrono::seconds(1));
  std::ofstream(path + ".tmp") << KeyFile("k2", {"k1", "k2"});
  std::filesystem::rename(path + ".tmp", path);  // as hut writes it
  clock.WaitForWaiter();  // the thread waits for its interval
  EXPECT_EQ(codec.active_kid(), "k1") << "not before the interval";
  clock.Advance(std::chrono::seconds(1));
  clock.WaitForWaiter();  // it checked, and waits again
  EXPECT_EQ(codec.active_kid(), "k2");
}

}  // namespace
}  // namespace hut::foohut
