#ifndef HUT_COMMON_RESOURCES_H_
#define HUT_COMMON_RESOURCES_H_

// Bounded use of what the system lends a process: open files and input size.

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace hut {

// Raises the soft limit on open files to the hard limit where it is lower,
// and returns the soft limit then in force (the number of descriptors this
// process may hold). Safe to call more than once.
int RaiseOpenFileLimit();

// The whole content of `path`, read as a stream (so a device or a pipe
// works), but never more than `max_bytes`. Errors name the path:
// InvalidArgument for a folder or content over the cap ("is larger than
// 1 MiB"), NotFound or PermissionDenied from open, Internal for a read error.
// Memory stays bounded by the cap, whatever the file is (/dev/zero included).
absl::StatusOr<std::string> ReadFileCapped(const std::string& path, size_t max_bytes);

// "1 MiB", "64 KiB", "100 bytes": a byte count for messages.
std::string ByteSize(size_t bytes);

}  // namespace hut

#endif  // HUT_COMMON_RESOURCES_H_
