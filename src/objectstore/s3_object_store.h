#ifndef HUT_OBJECTSTORE_S3_OBJECT_STORE_H_
#define HUT_OBJECTSTORE_S3_OBJECT_STORE_H_

// The ObjectStore on Amazon S3 (its REST API: PutObject, GetObject,
// ListObjectsV2, DeleteObject), under a key prefix of one bucket. Signed with
// SigV4 (src/aws); AWS's endpoint addresses the bucket by host name, a
// custom one (AWS_ENDPOINT_URL_S3, a local emulator) by path.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/aws/client.h"
#include "src/objectstore/object_store.h"
#include "src/objectstore/s3_url.h"

namespace hut::objectstore {

class S3ObjectStore final : public ObjectStore {
 public:
  // Checks the bucket answers (HeadBucket): NotFound or PermissionDenied
  // with S3's reason when it does not.
  static absl::StatusOr<std::unique_ptr<S3ObjectStore>> Open(const S3Location& location,
                                                             const aws::AwsConfig& config);
  absl::Status Put(const std::string& key, const std::string& data) override;
  absl::StatusOr<std::string> Get(const std::string& key) override;
  absl::StatusOr<std::vector<std::string>> List(const std::string& prefix) override;
  absl::Status Delete(const std::string& key) override;

 private:
  S3ObjectStore(S3Location location, aws::AwsClient client, bool path_style)
      : location_(std::move(location)), client_(std::move(client)), path_style_(path_style) {}
  // The request path of an object key ("" : the bucket).
  std::string PathOf(const std::string& key) const;
  std::string Describe(const std::string& key) const;  // s3://bucket/prefix+key
  const S3Location location_;
  const aws::AwsClient client_;
  const bool path_style_;
};

}  // namespace hut::objectstore

#endif  // HUT_OBJECTSTORE_S3_OBJECT_STORE_H_
