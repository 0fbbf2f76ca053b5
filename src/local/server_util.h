#ifndef HUT_LOCAL_SERVER_UTIL_H_
#define HUT_LOCAL_SERVER_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/common/subprocess.h"

namespace hut::local {

// Makes `path` owned by `user` with `mode` when we are root; when we are not,
// only sets the mode. Every parent folder must already be traversable.
absl::Status GiveToUser(const std::string& path, const std::string& user, unsigned mode);

// Why user uid/gid could not use `path` (traverse every parent folder, and
// read or run it); "" when it can.
std::string UnreachableReason(const std::string& path, uid_t uid, gid_t gid);

// `dir` when user uid/gid can reach it. Otherwise (e.g. it lies under /root,
// mode 0700) a folder it can reach, /var/lib/hut/<id of dir>/<name of dir>,
// kept across runs, with `dir` made a symbolic link to it; `*note` then says
// so. Creates the folder.
absl::StatusOr<std::string> ReachableFolder(const std::string& dir, uid_t uid, gid_t gid,
                                            std::string* note);

// Why the server process `process` (null: none) is not running ("not
// running", "killed by signal 9 (Killed)"), or nullopt while it runs.
std::optional<std::string> DownReason(Process* process);

// The last `max_bytes` of a file ("" if unreadable): for error messages that
// quote a server's log.
std::string TailOfFile(const std::string& path, size_t max_bytes);

// Waits until http://127.0.0.1:`port``target` answers 200 from `process`,
// started a moment ago as `what` writing `log_file`. Unavailable when it
// exits first, DeadlineExceeded after `timeout`; both end with its log's
// tail. The caller stops or forgets the process on an error.
absl::Status AwaitHttp(Process& process, uint16_t port, const std::string& target,
                       std::chrono::milliseconds timeout, const std::string& what,
                       const std::string& log_file);

// Writes `text` to `path` through a temporary file and a rename, so that a
// reader (a server watching it) never sees half of it.
absl::Status WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace hut::local

#endif  // HUT_LOCAL_SERVER_UTIL_H_
