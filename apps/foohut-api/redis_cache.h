#ifndef HUT_APPS_FOOHUT_API_REDIS_CACHE_H_
#define HUT_APPS_FOOHUT_API_REDIS_CACHE_H_

#include <chrono>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "apps/foohut-api/cache.h"
#include "apps/foohut-api/config.h"
#include "src/common/clock.h"

struct redisContext;

namespace hut::foohut {

struct RedisCacheOptions {
  int max_idle = 16;  // idle connections kept (one per HTTP worker)
  std::chrono::milliseconds connect_timeout{200};
  std::chrono::milliseconds command_timeout{200};
  // After a failure, Get/Set fail fast for this long instead of reconnecting
  // on every request (Ping still tries).
  std::chrono::milliseconds backoff{1000};
};

// Cache on Redis (hiredis, synchronous contexts with timeouts). Connections
// are pooled and dropped on any error. Thread-safe; `clock` must outlive it.
class RedisCache final : public Cache {
 public:
  RedisCache(RedisAddress address, const Clock& clock, RedisCacheOptions options = {});
  ~RedisCache() override;

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override;
  absl::Status Set(std::string_view key, std::string_view value, std::chrono::seconds ttl) override;
  absl::Status Ping() override;

 private:
  struct ContextDeleter {
    void operator()(redisContext* c) const;
  };
  using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

  absl::StatusOr<ContextPtr> Acquire(bool ignore_backoff);
  void Release(ContextPtr ctx);
  void MarkFailed();

  const RedisAddress address_;
  const Clock& clock_;
  const RedisCacheOptions options_;
  absl::Mutex mu_;
  std::vector<ContextPtr> idle_ ABSL_GUARDED_BY(mu_);
  TimePoint retry_after_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_REDIS_CACHE_H_
