#ifndef HUT_LOCAL_SERVER_UTIL_H_
#define HUT_LOCAL_SERVER_UTIL_H_

#include <string>

#include "absl/status/status.h"

namespace hut::local {

// Makes `path` owned by `user` with `mode` when we are root; when we are not,
// only sets the mode. Every parent folder must already be traversable.
absl::Status GiveToUser(const std::string& path, const std::string& user, unsigned mode);

// The last `max_bytes` of a file ("" if unreadable): for error messages that
// quote a server's log.
std::string TailOfFile(const std::string& path, size_t max_bytes);

}  // namespace hut::local

#endif  // HUT_LOCAL_SERVER_UTIL_H_
