#include "src/local/server_util.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "src/http/client.h"

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

std::optional<std::string> DownReason(Process* process) {
  if (process == nullptr) return "not running";
  if (std::optional<ExitStatus> exit = process->TryWait()) return exit->ToString();
  return std::nullopt;
}

std::string TailOfFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

// Why user uid/gid could not use `path` (traverse every parent folder, and
// read or run it); "" when it can.
std::string UnreachableReason(const std::string& path, uid_t uid, gid_t gid) {
  auto allows = [uid, gid](const struct stat& st, mode_t user, mode_t group, mode_t other) {
    if (st.st_uid == uid) return (st.st_mode & user) != 0;
    if (st.st_gid == gid) return (st.st_mode & group) != 0;
    return (st.st_mode & other) != 0;
  };
  std::filesystem::path p(path);
  for (std::filesystem::path dir = p.parent_path(); !dir.empty() && dir != dir.root_path();
       dir = dir.parent_path()) {
    struct stat st;
    if (stat(dir.c_str(), &st) == 0 && !allows(st, S_IXUSR, S_IXGRP, S_IXOTH)) {
      return absl::StrCat("folder ", dir.string(), " is not searchable by uid ", uid);
    }
  }
  struct stat st;
  if (stat(path.c_str(), &st) == 0 &&
      !allows(st, S_IRUSR | S_IXUSR, S_IRGRP | S_IXGRP, S_IROTH | S_IXOTH)) {
    return absl::StrCat(path, " is not readable by uid ", uid);
  }
  return "";
}


absl::StatusOr<std::string> ReachableFolder(const std::string& dir, uid_t uid, gid_t gid,
                                            std::string* note) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_symlink(dir, ec)) return fs::read_symlink(dir, ec).string();
  const std::string why = UnreachableReason(dir + "/x", uid, gid);
  if (why.empty()) {
    fs::create_directories(dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
    return dir;
  }
  const fs::path path(dir);
  const std::string outside =
      absl::StrCat("/var/lib/hut/", absl::Hex(std::hash<std::string>{}(path.parent_path().string()),
                                              absl::kZeroPad16),
                   "/", path.filename().string());
  fs::create_directories(outside, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", outside, ": ", ec.message()));
  for (fs::path d = outside; d != "/var/lib"; d = d.parent_path()) chmod(d.c_str(), 0755);
  if (!fs::exists(dir, ec)) {
    fs::create_directories(path.parent_path(), ec);
    fs::create_directory_symlink(outside, dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot link ", dir, ": ", ec.message()));
  }
  *note = absl::StrCat(why, "; using ", outside, " instead of ", dir);
  return outside;
}

absl::Status AwaitHttp(Process& process, uint16_t port, const std::string& target,
                       std::chrono::milliseconds timeout, const std::string& what,
                       const std::string& log_file) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto r = http::Fetch({.port = port, .target = target,
                          .timeout = std::chrono::milliseconds(2000)});
    if (r.ok() && r->status == 200) return absl::OkStatus();
    if (auto exited = process.TryWait()) {
      return absl::UnavailableError(absl::StrCat(what, " on port ", port, " exited (",
                                                 exited->ToString(), "); its log ends:\n",
                                                 TailOfFile(log_file, 2000)));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, " on port ", port, " did not answer ", target, " within ",
                       timeout.count(), " ms; its log ends:\n", TailOfFile(log_file, 2000)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace hut::local
