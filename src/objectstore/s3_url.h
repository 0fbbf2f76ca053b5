#ifndef HUT_OBJECTSTORE_S3_URL_H_
#define HUT_OBJECTSTORE_S3_URL_H_

// Where in S3: s3://BUCKET[/PREFIX], as the spec and the AWS CLI write it.

#include <string>

#include "absl/status/statusor.h"

namespace hut::objectstore {

struct S3Location {
  std::string bucket;
  std::string prefix;  // "" or ending in '/'
};

bool IsS3Url(const std::string& url);
// InvalidArgument, saying why, for anything but s3://BUCKET[/PREFIX] with a
// bucket name S3 allows.
absl::StatusOr<S3Location> ParseS3Url(const std::string& url);

}  // namespace hut::objectstore

#endif  // HUT_OBJECTSTORE_S3_URL_H_
