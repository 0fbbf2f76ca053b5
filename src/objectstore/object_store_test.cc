// The ObjectStore contract, on the local folder and on S3 (moto's server,
// speaking S3's REST API on loopback; scripts/moto.sh installs it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "src/aws/client.h"
#include "src/objectstore/object_store.h"
#include "src/objectstore/s3_object_store.h"
#include "testing/moto_server.h"
#include "testing/test_env.h"

namespace hut::objectstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// moto without signature checks (it gets listing by a prefix with '/'
// wrong; moto_server.h), and one with them. Each lives as long as the test
// process.
testing::MotoServer* Moto(bool authenticate = false) {
  const auto start = [](bool a) {
    auto m = testing::MotoServer::Start({.authenticate = a});
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? m->release() : nullptr;
  };
  if (authenticate) {
    static testing::MotoServer* checking = start(true);
    return checking;
  }
  static testing::MotoServer* moto = start(false);
  return moto;
}

aws::AwsConfig MotoConfig(bool authenticate = false) {
  testing::MotoServer* moto = Moto(authenticate);
  auto c = aws::ConfigFromEnvironment([moto](const std::string& n) { return moto->GetEnv(n); });
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : aws::AwsConfig{};
}

// Creates a bucket (CreateBucket, path style) on moto.
void CreateBucket(const std::string& bucket, bool authenticate = false) {
  const aws::AwsConfig c = MotoConfig(authenticate);
  aws::AwsClient client(Moto(authenticate)->url(), c.region, "s3", c.credentials);
  aws::AwsRequest r;
  r.method = "PUT";
  r.path = "/" + bucket;
  auto answer = client.Send(r);
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->status, 200) << answer->body;
}

struct Backend {
  std::string name;
  std::function<std::unique_ptr<ObjectStore>(const std::string& scratch)> open;
};

class ObjectStoreContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    store_ = GetParam().open(dir_.path());
    ASSERT_NE(store_, nullptr);
  }
  testing::TempDir dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_P(ObjectStoreContractTest, PutGetListDelete) {
  ASSERT_TRUE(store_->Put("logs/production/2026-12-04.jsonl.zst", "day 4").ok());
  ASSERT_TRUE(store_->Put("logs/production/2026-12-05.jsonl.zst", "day 5").ok());
  ASSERT_TRUE(store_->Put("logs/staging/2026-12-04.jsonl.zst", "staging").ok());
  EXPECT_EQ(*store_->Get("logs/production/2026-12-04.jsonl.zst"), "day 4");
  EXPECT_THAT(*store_->List("logs/production/"),
              ElementsAre("logs/production/2026-12-04.jsonl.zst",
                          "logs/production/2026-12-05.jsonl.zst"));
  EXPECT_EQ(store_->List("logs/")->size(), 3u);
  ASSERT_TRUE(store_->Delete("logs/production/2026-12-04.jsonl.zst").ok());
  EXPECT_EQ(store_->Get("logs/production/2026-12-04.jsonl.zst").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->Delete("logs/production/none").ok()) << "a missing object deletes fine";
  EXPECT_EQ(store_->List("logs/production/")->size(), 1u);
  EXPECT_TRUE(store_->List("nothing/")->empty());
}

TEST_P(ObjectStoreContractTest, APutReplacesTheObjectWholeAndKeepsEveryByte) {
  std::string binary;
  for (int i = 0; i < 3 << 20; ++i) binary.push_back(static_cast<char>(i * 131 % 256));  // 3 MiB
  ASSERT_TRUE(store_->Put("a b/ünï+code=.bin", "old").ok());
  ASSERT_TRUE(store_->Put("a b/ünï+code=.bin", binary).ok());
  auto got = store_->Get("a b/ünï+code=.bin");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), binary.size());
  EXPECT_TRUE(*got == binary);
  EXPECT_THAT(*store_->List("a b/"), ElementsAre("a b/ünï+code=.bin"));
  ASSERT_TRUE(store_->Put("empty", "").ok());
  EXPECT_EQ(*store_->Get("empty"), "");
}

std::unique_ptr<ObjectStore> OpenFolder(const std::string& scratch) {
  auto s = FolderObjectStore::Open(scratch + "/objects");
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

// Each test its own bucket, under a prefix: keys are the store's, not the bucket's.
std::unique_ptr<ObjectStore> OpenS3(const std::string&) {
  static int n = 0;
  const std::string bucket = absl::StrCat("hut-test-", ++n);
  CreateBucket(bucket);
  auto s = S3ObjectStore::Open({.bucket = bucket, .prefix = "archive/"}, MotoConfig());
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(Backends, ObjectStoreContractTest,
                         ::testing::Values(Backend{"folder", OpenFolder}, Backend{"s3", OpenS3}),
                         [](const auto& info) { return info.param.name; });

TEST(FolderObjectStoreTest, RefusesKeysThatLeaveItsFolder) {
  testing::TempDir dir;
  auto s = FolderObjectStore::Open(dir.path() + "/objects");
  ASSERT_TRUE(s.ok());
  for (const char* key : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"}) {
    EXPECT_EQ((*s)->Put(key, "x").code(), absl::StatusCode::kInvalidArgument) << key;
  }
}

TEST(S3ObjectStoreTest, AListLongerThanAPageIsReadWhole) {
  CreateBucket("hut-test-pages");
  auto s = S3ObjectStore::Open({.bucket = "hut-test-pages", .prefix = ""}, MotoConfig());
  ASSERT_TRUE(s.ok()) << s.status();
  for (int i = 0; i < 1005; ++i) {  // S3 answers 1,000 keys a page
    ASSERT_TRUE((*s)->Put(absl::StrCat("k/", 10000 + i), "x").ok());
  }
  auto keys = (*s)->List("k/");
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1005u);
  EXPECT_EQ(keys->front(), "k/10000");
  EXPECT_EQ(keys->back(), "k/11004");
}

// Every request signed as S3 checks it: moto recomputes each signature with
// the IAM user's secret key. A wrong key is refused. (moto's check also
// fails boto3's requests for keys with '+', '=' or non-ASCII characters:
// those are round-tripped above, unchecked.)
TEST(S3ObjectStoreTest, ItsRequestsCarrySignaturesS3Accepts) {
  CreateBucket("hut-test-signed", true);
  auto s = S3ObjectStore::Open({.bucket = "hut-test-signed", .prefix = ""}, MotoConfig(true));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Put("dir/a b.zst", "x").ok());
  EXPECT_EQ(*(*s)->Get("dir/a b.zst"), "x");
  auto keys = (*s)->List("dir");  // no '/' in the prefix (moto_server.h)
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys, ElementsAre("dir/a b.zst"));
  ASSERT_TRUE((*s)->Delete("dir/a b.zst").ok());

  aws::AwsConfig wrong = MotoConfig(true);
  {
    auto keys = wrong.credentials->Get();
    ASSERT_TRUE(keys.ok());
    keys->secret_access_key = Secret("not-the-key");
    wrong.credentials = aws::StaticCredentials(*keys);
  }
  auto refused = S3ObjectStore::Open({.bucket = "hut-test-signed", .prefix = ""}, wrong);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
}

TEST(S3ObjectStoreTest, AMissingBucketIsAClearError) {
  auto s = S3ObjectStore::Open({.bucket = "hut-no-such-bucket", .prefix = ""}, MotoConfig());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.status().message(), HasSubstr("hut-no-such-bucket"));
}

TEST(S3ObjectStoreTest, AnUnreachableEndpointIsUnavailable) {
  aws::AwsConfig c = MotoConfig();
  c.endpoint_url = absl::StrCat("http://127.0.0.1:", testing::PickFreePort());
  auto s = S3ObjectStore::Open({.bucket = "hut-test-1", .prefix = ""}, c);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
}

TEST(S3UrlTest, ParsesBucketAndPrefix) {
  auto l = ParseS3Url("s3://foohut-logs/production");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->bucket, "foohut-logs");
  EXPECT_EQ(l->prefix, "production/");
  EXPECT_EQ(ParseS3Url("s3://foohut-logs")->prefix, "");
  for (const char* bad : {"foohut-logs", "s3://", "s3://UPPER/x", "s3://ab", "https://x/y"}) {
    EXPECT_EQ(ParseS3Url(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace hut::objectstore
