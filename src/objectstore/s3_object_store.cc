#include "src/objectstore/s3_object_store.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pugixml.hpp"
#include "src/common/status.h"
#include "src/http/message.h"

namespace hut::objectstore {
namespace {

constexpr size_t kMaxObject = size_t{1} << 30;  // what Get reads into memory

}  // namespace

absl::StatusOr<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Open(const S3Location& location,
                                                                   const aws::AwsConfig& config) {
  const std::string aws = absl::StrCat("https://s3.", config.region, ".amazonaws.com");
  std::string endpoint = aws::EndpointFor(config, "S3", "s3");
  const bool path_style = endpoint != aws;
  if (!path_style) endpoint = absl::StrCat("https://", location.bucket, ".s3.", config.region, ".amazonaws.com");
  std::unique_ptr<S3ObjectStore> store(new S3ObjectStore(
      location, aws::AwsClient(endpoint, config.region, "s3", config.credentials), path_style));
  aws::AwsRequest head;
  head.method = "HEAD";
  head.path = store->PathOf("");
  HUT_ASSIGN_OR_RETURN(http::ClientResponse r, store->client_.Send(head));
  if (r.status != 200) {
    return aws::ErrorStatus(r, absl::StrCat("S3 bucket ", location.bucket, " at ", endpoint));
  }
  return store;
}

std::string S3ObjectStore::PathOf(const std::string& key) const {
  const std::string bucket = path_style_ ? "/" + location_.bucket : "";
  if (key.empty()) return bucket.empty() ? "/" : bucket;
  return absl::StrCat(bucket, "/", http::PercentEncode(location_.prefix + key, true));
}

std::string S3ObjectStore::Describe(const std::string& key) const {
  return absl::StrCat("s3://", location_.bucket, "/", location_.prefix, key);
}

absl::Status S3ObjectStore::Put(const std::string& key, const std::string& data) {
  if (key.empty()) return absl::InvalidArgumentError("an object key is empty");
  aws::AwsRequest r;
  r.method = "PUT";
  r.path = PathOf(key);
  r.headers.emplace("content-type", "application/octet-stream");
  r.body = data;
  r.timeout = std::chrono::minutes(5);
  HUT_ASSIGN_OR_RETURN(http::ClientResponse answer, client_.Send(r));
  if (answer.status != 200) return aws::ErrorStatus(answer, absl::StrCat("PUT ", Describe(key)));
  return absl::OkStatus();
}

absl::StatusOr<std::string> S3ObjectStore::Get(const std::string& key) {
  aws::AwsRequest r;
  r.path = PathOf(key);
  r.timeout = std::chrono::minutes(5);
  r.max_body = kMaxObject;
  HUT_ASSIGN_OR_RETURN(http::ClientResponse answer, client_.Send(r));
  if (answer.status != 200) return aws::ErrorStatus(answer, absl::StrCat("GET ", Describe(key)));
  return std::move(answer.body);
}

absl::StatusOr<std::vector<std::string>> S3ObjectStore::List(const std::string& prefix) {
  std::vector<std::string> keys;
  std::string token;
  do {
    aws::AwsRequest r;
    r.path = PathOf("");
    r.query = {{"list-type", "2"}, {"prefix", location_.prefix + prefix}};
    if (!token.empty()) r.query.emplace_back("continuation-token", token);
    r.max_body = 16 << 20;
    HUT_ASSIGN_OR_RETURN(http::ClientResponse answer, client_.Send(r));
    if (answer.status != 200) {
      return aws::ErrorStatus(answer, absl::StrCat("list ", Describe(prefix)));
    }
    pugi::xml_document xml;
    if (!xml.load_buffer(answer.body.data(), answer.body.size())) {
      return absl::DataLossError(absl::StrCat("list ", Describe(prefix), ": the answer is not XML"));
    }
    const pugi::xml_node result = xml.child("ListBucketResult");
    for (pugi::xml_node c = result.child("Contents"); c; c = c.next_sibling("Contents")) {
      const std::string full = c.child_value("Key");
      if (absl::StartsWith(full, location_.prefix)) keys.push_back(full.substr(location_.prefix.size()));
    }
    token = std::string(result.child_value("IsTruncated")) == "true"
                ? result.child_value("NextContinuationToken")
                : "";
  } while (!token.empty());
  std::sort(keys.begin(), keys.end());
  return keys;
}

absl::Status S3ObjectStore::Delete(const std::string& key) {
  aws::AwsRequest r;
  r.method = "DELETE";
  r.path = PathOf(key);
  HUT_ASSIGN_OR_RETURN(http::ClientResponse answer, client_.Send(r));
  if (answer.status != 204 && answer.status != 200 && answer.status != 404) {
    return aws::ErrorStatus(answer, absl::StrCat("DELETE ", Describe(key)));
  }
  return absl::OkStatus();
}

}  // namespace hut::objectstore
