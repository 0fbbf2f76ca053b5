// JWT rotation's steps on the local backend and a fake runtime, on a fake
// clock: the order keys reach the replicas, the rollback of a failed test,
// resuming after a kill, and the 90-day schedule.
#include "src/secrets/jwt_rotation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/secrets/jwt_keys.h"
#include "testing/fake_clock.h"
#include "testing/local_secrets.h"
#include "testing/test_env.h"

namespace hut::secrets {
namespace {

using std::chrono::days;
using std::chrono::minutes;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class JwtRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(local_.Open(clock_));
    ASSERT_TRUE(local_.service->Set(kJwtSecret, NewJwtKeySet(clock_), "test").ok());
    first_kid_ = Ids(local_.service->Current(kJwtSecret)->value).active_kid;
  }

  JwtRotationOptions Options() {
    JwtRotationOptions o;
    o.secrets = local_.service.get();
    o.clock = &clock_;
    o.period = days(90);
    o.overlap = minutes(61);
    o.deliver = [this](const Secret& keys) {
      if (fail_delivery_) return absl::UnavailableError("the runtime is down");
      delivered_.push_back(Ids(keys));
      return absl::OkStatus();
    };
    o.loaded = [this](const std::string& kid, bool signing) -> absl::StatusOr<bool> {
      asked_.push_back(absl::StrCat(kid, signing ? " signing" : ""));
      return replicas_load_;
    };
    o.test_timeout = std::chrono::seconds(0);  // one look (a fake clock does not move by itself)
    return o;
  }
  static KeySetIds Ids(const Secret& keys) {
    auto ids = KeySetIdsOf(keys);
    EXPECT_TRUE(ids.ok()) << ids.status();
    return ids.ok() ? *ids : KeySetIds{};
  }
  KeySetIds Current() { return Ids(local_.service->Current(kJwtSecret)->value); }
  bool Pending() { return local_.backend->Get("foohut/staging/jwt", kPending, "").ok(); }
  std::vector<std::string> EventTypes() { return local_.EventTypes(); }

  testing::FakeClock clock_;
  testing::LocalSecrets local_;
  std::string first_kid_;
  std::vector<KeySetIds> delivered_;
  std::vector<std::string> asked_;
  bool replicas_load_ = true;
  bool fail_delivery_ = false;
};

TEST_F(JwtRotationTest, TheNewKeyFirstVerifiesThenSignsAndTheOldIsRetiredAfterTheOverlap) {
  clock_.Advance(std::chrono::seconds(5));
  JwtRotator rotator(Options());
  auto kid = rotator.Rotate("alice");
  ASSERT_TRUE(kid.ok()) << kid.status();
  EXPECT_NE(*kid, first_kid_);
  ASSERT_EQ(delivered_.size(), 2u);
  // set: both keys, the old one still signing; finish: the new one signs.
  EXPECT_EQ(delivered_[0].active_kid, first_kid_);
  EXPECT_THAT(delivered_[0].kids, ::testing::UnorderedElementsAre(first_kid_, *kid));
  EXPECT_EQ(delivered_[1].active_kid, *kid);
  EXPECT_THAT(delivered_[1].kids, ::testing::UnorderedElementsAre(first_kid_, *kid));
  EXPECT_THAT(asked_, ElementsAre(*kid, *kid + " signing"));
  EXPECT_EQ(Current().active_kid, *kid);
  EXPECT_FALSE(Pending());

  clock_.Advance(minutes(60));
  ASSERT_TRUE(rotator.Tick().ok());
  EXPECT_EQ(delivered_.size(), 2u) << "the old key verifies until the overlap ends";
  clock_.Advance(minutes(1));
  ASSERT_TRUE(rotator.Tick().ok());
  ASSERT_EQ(delivered_.size(), 3u);
  EXPECT_THAT(delivered_[2].kids, ElementsAre(*kid));
  EXPECT_THAT(Current().kids, ElementsAre(*kid));
  EXPECT_THAT(EventTypes(), ElementsAre("secret.rotation-started", "secret.rotation-finished",
                                        "secret.key-retired"));
}

TEST_F(JwtRotationTest, AReplicaThatDoesNotLoadTheKeyRollsTheRotationBack) {
  replicas_load_ = false;
  JwtRotator rotator(Options());
  auto kid = rotator.Rotate("alice");
  EXPECT_EQ(kid.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(kid.status().message(), HasSubstr("rolled back"));
  EXPECT_EQ(Current().active_kid, first_kid_);
  EXPECT_THAT(Current().kids, ElementsAre(first_kid_));
  EXPECT_FALSE(Pending());
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_THAT(delivered_[1].kids, ElementsAre(first_kid_)) << "the current keys handed out again";
  EXPECT_THAT(EventTypes(), ElementsAre("secret.rotation-started", "secret.rotation-failed"));
}

// Killed after step 1 (the runtime failed to take the keys, then hut
// restarted): the next tick carries the rotation through.
TEST_F(JwtRotationTest, ARotationInterruptedAfterCreateIsResumedByTheNextTick) {
  fail_delivery_ = true;
  EXPECT_FALSE(JwtRotator(Options()).Rotate("alice").ok());
  EXPECT_TRUE(Pending());
  EXPECT_EQ(Current().active_kid, first_kid_);
  fail_delivery_ = false;
  JwtRotator restarted(Options());
  ASSERT_TRUE(restarted.Tick().ok());
  EXPECT_FALSE(Pending());
  EXPECT_NE(Current().active_kid, first_kid_);
  EXPECT_EQ(Current().kids.size(), 2u);
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(delivered_[0].active_kid, first_kid_);
}

// Killed between step 4's two writes (the new current stored, pending not
// yet dropped): resuming only tidies up; no third key, no going back.
TEST_F(JwtRotationTest, ARotationInterruptedInsideFinishIsTidiedNotRedone) {
  JwtRotator rotator(Options());
  auto kid = rotator.Rotate("alice");
  ASSERT_TRUE(kid.ok());
  // Put the pending label back on the step-1 version, as a kill there leaves it.
  auto info = local_.backend->Describe("foohut/staging/jwt");
  ASSERT_TRUE(info.ok());
  std::string step1;
  for (const VersionInfo& v : info->versions) {
    auto value = local_.backend->Get("foohut/staging/jwt", "", v.id);
    const KeySetIds ids = Ids(value->value);
    if (ids.kids.size() == 2 && ids.active_kid == first_kid_) step1 = v.id;
  }
  ASSERT_FALSE(step1.empty());
  ASSERT_TRUE(local_.backend->MoveStage("foohut/staging/jwt", kPending, step1).ok());
  delivered_.clear();
  ASSERT_TRUE(JwtRotator(Options()).Tick().ok());
  EXPECT_FALSE(Pending());
  EXPECT_EQ(Current().active_kid, *kid);
  ASSERT_EQ(delivered_.size(), 1u);
  EXPECT_EQ(delivered_[0].active_kid, *kid);
}

TEST_F(JwtRotationTest, TheScheduleRotatesEvery90DaysAndAMissedOneOnce) {
  JwtRotator rotator(Options());
  clock_.Advance(days(89));
  ASSERT_TRUE(rotator.Tick().ok());
  EXPECT_EQ(Current().active_kid, first_kid_);
  clock_.Advance(days(1));
  ASSERT_TRUE(rotator.Tick().ok());
  const std::string second = Current().active_kid;
  EXPECT_NE(second, first_kid_);
  ASSERT_TRUE(rotator.Tick().ok());
  EXPECT_EQ(Current().active_kid, second);
  // hut down for 200 days: at start, one rotation (and the old key's
  // retirement), not two.
  clock_.Advance(days(200));
  ASSERT_TRUE(rotator.Tick().ok());  // retires the key of the first rotation
  ASSERT_TRUE(rotator.Tick().ok());  // the missed rotation
  const std::string third = Current().active_kid;
  EXPECT_NE(third, second);
  ASSERT_TRUE(rotator.Tick().ok());
  ASSERT_TRUE(rotator.Tick().ok());
  EXPECT_EQ(Current().active_kid, third);
  int started = 0;
  for (const std::string& t : EventTypes()) started += t == "secret.rotation-started";
  EXPECT_EQ(started, 2);
}

}  // namespace
}  // namespace hut::secrets
