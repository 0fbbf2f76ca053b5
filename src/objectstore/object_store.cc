#include "src/objectstore/object_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hut::objectstore {
namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<FolderObjectStore>> FolderObjectStore::Open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("object store: cannot create ", dir, ": ", ec.message()));
  return std::unique_ptr<FolderObjectStore>(new FolderObjectStore(dir));
}

absl::StatusOr<std::string> FolderObjectStore::PathOf(const std::string& key) const {
  if (key.empty() || key.front() == '/') {
    return absl::InvalidArgumentError(absl::StrCat("object key \"", key, "\": must be a relative path"));
  }
  for (absl::string_view part : absl::StrSplit(key, '/')) {
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat("object key \"", key, "\": bad part \"", part, "\""));
    }
  }
  return absl::StrCat(dir_, "/", key);
}

absl::Status FolderObjectStore::Put(const std::string& key, const std::string& data) {
  absl::StatusOr<std::string> path = PathOf(key);
  if (!path.ok()) return path.status();
  std::error_code ec;
  fs::create_directories(fs::path(*path).parent_path(), ec);
  static std::atomic<uint64_t> n{0};
  const std::string tmp = absl::StrCat(*path, ".tmp-", getpid(), "-", n++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("object store: ", tmp, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat("object store: writing ", tmp, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(w);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path->c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("object store: ", *path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FolderObjectStore::Get(const std::string& key) {
  absl::StatusOr<std::string> path = PathOf(key);
  if (!path.ok()) return path.status();
  std::ifstream in(*path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("object store: no object ", key));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<std::vector<std::string>> FolderObjectStore::List(const std::string& prefix) {
  std::vector<std::string> keys;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string key = fs::relative(it->path(), dir_).string();
    if (key.find(".tmp-") != std::string::npos) continue;  // a Put under way
    if (key.starts_with(prefix)) keys.push_back(key);
  }
  if (ec) return absl::InternalError(absl::StrCat("object store: listing ", dir_, ": ", ec.message()));
  std::sort(keys.begin(), keys.end());
  return keys;
}

absl::Status FolderObjectStore::Delete(const std::string& key) {
  absl::StatusOr<std::string> path = PathOf(key);
  if (!path.ok()) return path.status();
  std::error_code ec;
  fs::remove(*path, ec);
  if (ec) return absl::InternalError(absl::StrCat("object store: deleting ", key, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace hut::objectstore
