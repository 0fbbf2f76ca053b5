#include "src/local/server_util.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace hut::local {

absl::Status GiveToUser(const std::string& path, const std::string& user, unsigned mode) {
  if (geteuid() == 0) {
    struct passwd* pw = getpwnam(user.c_str());
    if (pw == nullptr) return absl::NotFoundError(absl::StrCat("no such user: ", user));
    if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("chown ", path, ": ", strerror(errno)));
    }
  }
  if (chmod(path.c_str(), mode) != 0) {
    return absl::InternalError(absl::StrCat("chmod ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

std::string TailOfFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

}  // namespace hut::local
