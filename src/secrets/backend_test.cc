// The SecretBackend contract on the local encrypted store and on AWS Secrets
// Manager's API (moto's server on loopback, checking every signature).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/secrets/aws_backend.h"
#include "src/secrets/local_backend.h"
#include "testing/fake_clock.h"
#include "testing/moto_server.h"
#include "testing/test_env.h"

namespace hut::secrets {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

testing::MotoServer* Moto() {
  static testing::MotoServer* moto = [] {
    auto m = testing::MotoServer::Start({.authenticate = true});
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? m->release() : nullptr;  // lives as long as the test process
  }();
  return moto;
}

aws::AwsConfig MotoConfig() {
  auto c = aws::ConfigFromEnvironment([](const std::string& n) { return Moto()->GetEnv(n); });
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : aws::AwsConfig{};
}

struct Backend {
  std::string name;
  std::function<std::unique_ptr<SecretBackend>(const std::string& dir, const Clock& clock)> open;
};

class SecretBackendContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    backend_ = GetParam().open(dir_.path(), clock_);
    ASSERT_NE(backend_, nullptr);
    // Each test its own names: moto's secrets outlive a test.
    prefix_ = absl::StrCat("foohut/", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "/");
  }
  std::string Value(const std::string& name, const std::string& stage) {
    auto v = backend_->Get(name, stage, "");
    return v.ok() ? v->value.Reveal() : v.status().ToString();
  }
  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<SecretBackend> backend_;
  std::string prefix_;
};

TEST_P(SecretBackendContractTest, ANewCurrentVersionMakesTheOldOnePrevious) {
  const std::string name = prefix_ + "database";
  const std::string v1 = NewVersionId(), v2 = NewVersionId();
  ASSERT_TRUE(backend_->Put(name, v1, Secret("pw-1"), {kCurrent}).ok());
  clock_.Advance(std::chrono::seconds(2));
  ASSERT_TRUE(backend_->Put(name, v2, Secret("pw-2"), {kCurrent}).ok());
  EXPECT_EQ(Value(name, kCurrent), "pw-2");
  EXPECT_EQ(Value(name, kPrevious), "pw-1");
  auto current = backend_->Get(name, kCurrent, "");
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->version_id, v2);
  EXPECT_THAT(current->stages, ElementsAre(kCurrent));
  auto old = backend_->Get(name, "", v1);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->value.Reveal(), "pw-1");
}

// A rotation's stages: the new version pending, then current; the pending
// label removed.
TEST_P(SecretBackendContractTest, APendingVersionBecomesCurrentWhenItsStageMoves) {
  const std::string name = prefix_ + "jwt";
  const std::string v1 = NewVersionId(), v2 = NewVersionId();
  ASSERT_TRUE(backend_->Put(name, v1, Secret("key-1"), {kCurrent}).ok());
  ASSERT_TRUE(backend_->Put(name, v2, Secret("key-2"), {kPending}).ok());
  EXPECT_EQ(Value(name, kCurrent), "key-1") << "a pending version changes nothing yet";
  EXPECT_EQ(Value(name, kPending), "key-2");
  ASSERT_TRUE(backend_->MoveStage(name, kCurrent, v2).ok());
  ASSERT_TRUE(backend_->MoveStage(name, kPending, "").ok());
  EXPECT_EQ(Value(name, kCurrent), "key-2");
  EXPECT_EQ(Value(name, kPrevious), "key-1");
  EXPECT_EQ(backend_->Get(name, kPending, "").status().code(), absl::StatusCode::kNotFound);
  auto info = backend_->Describe(name);
  ASSERT_TRUE(info.ok()) << info.status();
  std::map<std::string, std::vector<std::string>> stages;
  for (const VersionInfo& v : info->versions) stages[v.id] = v.stages;
  EXPECT_THAT(stages[v1], ElementsAre(kPrevious));
  EXPECT_THAT(stages[v2], ElementsAre(kCurrent));
  // Moving it back: a rotation rolled back.
  ASSERT_TRUE(backend_->MoveStage(name, kCurrent, v1).ok());
  EXPECT_EQ(Value(name, kCurrent), "key-1");
  EXPECT_EQ(Value(name, kPrevious), "key-2");
}

TEST_P(SecretBackendContractTest, APutIsIdempotentByVersionId) {
  const std::string name = prefix_ + "api-keys";
  const std::string v1 = NewVersionId();
  ASSERT_TRUE(backend_->Put(name, v1, Secret("k"), {kCurrent}).ok());
  EXPECT_TRUE(backend_->Put(name, v1, Secret("k"), {kCurrent}).ok()) << "a retried put";
  absl::Status other = backend_->Put(name, v1, Secret("s3cr3t-2"), {kCurrent});
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition) << other;
  EXPECT_THAT(std::string(other.message()), ::testing::Not(HasSubstr("s3cr3t"))) << "no value in errors";
  EXPECT_EQ(Value(name, kCurrent), "k");
}

TEST_P(SecretBackendContractTest, MissingSecretsAndStagesAreNotFound) {
  EXPECT_EQ(backend_->Get(prefix_ + "none", kCurrent, "").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(backend_->Put(prefix_ + "one", NewVersionId(), Secret("v"), {kCurrent}).ok());
  auto pending = backend_->Get(prefix_ + "one", kPending, "");
  EXPECT_EQ(pending.status().code(), absl::StatusCode::kNotFound) << pending.status();
  auto none = backend_->Describe(prefix_ + "none");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound) << none.status();
}

TEST_P(SecretBackendContractTest, ListsByPrefix) {
  for (const char* s : {"database", "jwt", "third-party-api-keys"}) {
    ASSERT_TRUE(backend_->Put(prefix_ + s, NewVersionId(), Secret("v"), {kCurrent}).ok());
  }
  ASSERT_TRUE(backend_->Put("other/" + prefix_ + "x", NewVersionId(), Secret("v"), {kCurrent}).ok());
  auto names = backend_->List(prefix_);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre(prefix_ + "database", prefix_ + "jwt",
                                  prefix_ + "third-party-api-keys"));
}

std::unique_ptr<SecretBackend> OpenLocal(const std::string& dir, const Clock& clock) {
  auto b = LocalSecretBackend::Open({.file = dir + "/store.json", .key_file = dir + "/master.key",
                                     .key = Secret()},
                                    clock);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? std::move(*b) : nullptr;
}

std::unique_ptr<SecretBackend> OpenAws(const std::string&, const Clock&) {
  return std::make_unique<AwsSecretsManagerBackend>(MotoConfig());
}

INSTANTIATE_TEST_SUITE_P(Backends, SecretBackendContractTest,
                         ::testing::Values(Backend{"local", OpenLocal},
                                           Backend{"aws_secrets_manager", OpenAws}),
                         [](const auto& info) { return info.param.name; });

class LocalSecretBackendTest : public ::testing::Test {
 protected:
  LocalBackendOptions Options() const {
    return {.file = dir_.path() + "/store.json", .key_file = dir_.path() + "/master.key",
            .key = Secret()};
  }
  std::string Read(const std::string& path) const {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  testing::TempDir dir_;
  testing::FakeClock clock_;
};

TEST_F(LocalSecretBackendTest, TheFileHoldsNoValueAndTheKeyIsNotInIt) {
  auto b = LocalSecretBackend::Open(Options(), clock_);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*b)->Put("foohut/staging/database", NewVersionId(), Secret("hunter2-very-secret"),
                        {kCurrent}).ok());
  const std::string store = Read(dir_.path() + "/store.json");
  EXPECT_THAT(store, HasSubstr("foohut/staging/database"));
  EXPECT_THAT(store, ::testing::Not(HasSubstr("hunter2")));
  const std::string key = Read(dir_.path() + "/master.key");
  EXPECT_THAT(store, ::testing::Not(HasSubstr(key.substr(0, 64))));
  struct stat st {};
  ASSERT_EQ(stat((dir_.path() + "/master.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0400u);
  ASSERT_EQ(stat((dir_.path() + "/store.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Opened again (a restart): the same value.
  b->reset();
  auto again = LocalSecretBackend::Open(Options(), clock_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->Get("foohut/staging/database", kCurrent, "")->value.Reveal(), "hunter2-very-secret");
}

TEST_F(LocalSecretBackendTest, TheWrongKeyOrAReadableKeyFileIsRefused) {
  ASSERT_TRUE(LocalSecretBackend::Open(Options(), clock_).ok());
  LocalBackendOptions other = Options();
  other.key = RandomSecretHex(32);
  auto wrong = LocalSecretBackend::Open(other, clock_);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(wrong.status().message(), HasSubstr("does not open"));
  other.key = Secret("not-hex");
  EXPECT_EQ(LocalSecretBackend::Open(other, clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(chmod((dir_.path() + "/master.key").c_str(), 0644), 0);
  auto readable = LocalSecretBackend::Open(Options(), clock_);
  EXPECT_EQ(readable.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(readable.status().message(), HasSubstr("chmod 400"));
}

// Sealed values are bound to their secret and version: moved in the file,
// they do not open.
TEST_F(LocalSecretBackendTest, AValueMovedToAnotherSecretInTheFileDoesNotOpen) {
  const std::string v1 = NewVersionId(), v2 = NewVersionId();
  {
    auto b = LocalSecretBackend::Open(Options(), clock_);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE((*b)->Put("foohut/production/jwt", v1, Secret("jwt-key"), {kCurrent}).ok());
    ASSERT_TRUE((*b)->Put("foohut/production/database", v2, Secret("db-pw"), {kCurrent}).ok());
  }
  nlohmann::json j = nlohmann::json::parse(Read(dir_.path() + "/store.json"));
  std::swap(j["secrets"]["foohut/production/jwt"][0]["sealed"],
            j["secrets"]["foohut/production/database"][0]["sealed"]);
  ASSERT_EQ(chmod((dir_.path() + "/store.json").c_str(), 0600), 0);
  std::ofstream(dir_.path() + "/store.json") << j.dump();
  auto b = LocalSecretBackend::Open(Options(), clock_);
  ASSERT_TRUE(b.ok());
  auto got = (*b)->Get("foohut/production/jwt", kCurrent, "");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(got.status().message(), HasSubstr("does not open"));
}

TEST(AwsSecretsManagerBackendTest, AWrongSignatureIsRefusedClearly) {
  aws::AwsConfig wrong = MotoConfig();
  {
    auto keys = wrong.credentials->Get();
    ASSERT_TRUE(keys.ok());
    keys->secret_access_key = Secret("not-the-secret-key");
    wrong.credentials = aws::StaticCredentials(*keys);
  }
  AwsSecretsManagerBackend backend(wrong);
  auto got = backend.Get("foohut/production/jwt", kCurrent, "");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("GetSecretValue foohut/production/jwt"));
  EXPECT_THAT(got.status().message(), ::testing::Not(HasSubstr("not-the-secret-key")));
}

}  // namespace
}  // namespace hut::secrets
