#include "src/objectstore/s3_url.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hut::objectstore {
namespace {

// A bucket name as S3 allows it (3-63 of a-z 0-9 . -, starting and ending
// with a letter or digit).
bool ValidBucket(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  }
  return b.front() != '.' && b.front() != '-' && b.back() != '.' && b.back() != '-';
}

}  // namespace

bool IsS3Url(const std::string& url) { return absl::StartsWith(url, "s3://"); }

absl::StatusOr<S3Location> ParseS3Url(const std::string& url) {
  if (!IsS3Url(url)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\" is not an s3://BUCKET[/PREFIX] URL"));
  }
  const std::string rest = url.substr(5);
  S3Location l;
  const size_t slash = rest.find('/');
  l.bucket = rest.substr(0, slash);
  if (!ValidBucket(l.bucket)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", url, "\": \"", l.bucket,
        "\" is not an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')"));
  }
  if (slash != std::string::npos) l.prefix = rest.substr(slash + 1);
  if (!l.prefix.empty() && l.prefix.back() != '/') l.prefix += '/';
  return l;
}

}  // namespace hut::objectstore
