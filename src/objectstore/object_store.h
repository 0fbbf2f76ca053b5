#ifndef HUT_OBJECTSTORE_OBJECT_STORE_H_
#define HUT_OBJECTSTORE_OBJECT_STORE_H_

// Where hut keeps what it archives (cold logs; later backups): an object
// store's interface, so that S3 (AWS) or a local folder (the default) serve
// it alike. Keys are '/'-separated paths ("logs/production/2026-12-04.jsonl.zst").

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hut::objectstore {

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  // Replaces the object whole: a reader sees the old one or the new one.
  virtual absl::Status Put(const std::string& key, const std::string& data) = 0;
  // NotFound when there is none.
  virtual absl::StatusOr<std::string> Get(const std::string& key) = 0;
  // The keys starting with `prefix`, sorted.
  virtual absl::StatusOr<std::vector<std::string>> List(const std::string& prefix) = 0;
  // A missing object is OK.
  virtual absl::Status Delete(const std::string& key) = 0;
};

// Objects as files under a folder (created when missing); a key's '/' are
// subfolders. Put writes a temporary file and renames it.
class FolderObjectStore final : public ObjectStore {
 public:
  static absl::StatusOr<std::unique_ptr<FolderObjectStore>> Open(const std::string& dir);
  absl::Status Put(const std::string& key, const std::string& data) override;
  absl::StatusOr<std::string> Get(const std::string& key) override;
  absl::StatusOr<std::vector<std::string>> List(const std::string& prefix) override;
  absl::Status Delete(const std::string& key) override;

 private:
  explicit FolderObjectStore(std::string dir) : dir_(std::move(dir)) {}
  // InvalidArgument for a key that is empty, absolute, or has "." or ".." parts.
  absl::StatusOr<std::string> PathOf(const std::string& key) const;
  const std::string dir_;
};

}  // namespace hut::objectstore

#endif  // HUT_OBJECTSTORE_OBJECT_STORE_H_
