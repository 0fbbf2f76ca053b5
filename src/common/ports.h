#ifndef HUT_COMMON_PORTS_H_
#define HUT_COMMON_PORTS_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace hut {

// A TCP port on 127.0.0.1 that nobody listened on a moment ago (the kernel's
// choice for port 0). Another process may take it before the caller binds it.
absl::StatusOr<uint16_t> FreeLoopbackPort();

// `port`, or a free one (FreeLoopbackPort) when it is 0: what a --…-port flag means.
absl::StatusOr<uint16_t> PortOrFree(uint16_t port);

}  // namespace hut

#endif  // HUT_COMMON_PORTS_H_
