#ifndef HUT_APPS_FOOHUT_API_CACHE_H_
#define HUT_APPS_FOOHUT_API_CACHE_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hut::foohut {

// A key-value cache in front of the store. A failing cache must never fail a
// read: callers treat errors as misses. Implementations are thread-safe.
class Cache {
 public:
  virtual ~Cache() = default;
  // nullopt on a miss; Unavailable when the cache cannot be reached.
  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;
  virtual absl::Status Set(std::string_view key, std::string_view value,
                           std::chrono::seconds ttl) = 0;
  // OK when the cache answers now (tries to connect even while backing off).
  virtual absl::Status Ping() = 0;
};

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_CACHE_H_
