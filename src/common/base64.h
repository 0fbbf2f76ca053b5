#ifndef HUT_COMMON_BASE64_H_
#define HUT_COMMON_BASE64_H_

// Base64 with padding (RFC 4648's standard alphabet), as Kubernetes Secrets
// and kubeconfigs carry bytes. libsodium does the work.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hut {

std::string Base64Encode(std::string_view bytes);
// Whitespace is skipped; anything else not base64 is InvalidArgument.
absl::StatusOr<std::string> Base64Decode(std::string_view text);

}  // namespace hut

#endif  // HUT_COMMON_BASE64_H_
