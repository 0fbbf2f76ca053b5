#include "apps/foohut-api/redis_cache.h"

#include <hiredis/hiredis.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "apps/foohut-api/strings.h"

namespace hut::foohut {
namespace {

timeval ToTimeval(std::chrono::milliseconds d) {
  timeval tv;
  tv.tv_sec = d.count() / 1000;
  tv.tv_usec = (d.count() % 1000) * 1000;
  return tv;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

}  // namespace

void RedisCache::ContextDeleter::operator()(redisContext* c) const { redisFree(c); }

RedisCache::RedisCache(RedisAddress address, const Clock& clock, RedisCacheOptions options)
    : address_(std::move(address)), clock_(clock), options_(options) {}

RedisCache::~RedisCache() = default;

absl::StatusOr<RedisCache::ContextPtr> RedisCache::Acquire(bool ignore_backoff) {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      ContextPtr ctx = std::move(idle_.back());
      idle_.pop_back();
      return ctx;
    }
    if (!ignore_backoff && clock_.Now() < retry_after_) {
      return absl::UnavailableError("redis: unavailable (backing off after a failure)");
    }
  }
  ContextPtr ctx(redisConnectWithTimeout(address_.host.c_str(), address_.port,
                                         ToTimeval(options_.connect_timeout)));
  if (ctx == nullptr) return absl::UnavailableError("redis: cannot allocate a context");
  if (ctx->err != 0) {
    std::string why = ctx->errstr;
    MarkFailed();
    return absl::UnavailableError(
        absl::StrCat("redis: connect to ", address_.host, ":", address_.port, ": ", why));
  }
  if (redisSetTimeout(ctx.get(), ToTimeval(options_.command_timeout)) != REDIS_OK) {
    return absl::UnavailableError("redis: cannot set the command timeout");
  }
  if (!address_.password.Reveal().empty()) {
    const std::string& password = address_.password.Reveal();
    ReplyPtr reply(static_cast<redisReply*>(
        address_.user.empty()
            ? redisCommand(ctx.get(), "AUTH %b", password.data(), password.size())
            : redisCommand(ctx.get(), "AUTH %b %b", address_.user.data(), address_.user.size(),
                           password.data(), password.size())));
    if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) {
      const std::string why = reply == nullptr ? ctx->errstr : std::string(reply->str, reply->len);
      MarkFailed();
      return absl::UnavailableError(absl::StrCat("redis: AUTH as ",
                                                 address_.user.empty() ? "default" : address_.user,
                                                 " refused: ", why));
    }
  }
  return ctx;
}

void RedisCache::Release(ContextPtr ctx) {
  absl::MutexLock lock(&mu_);
  retry_after_ = TimePoint();
  if (static_cast<int>(idle_.size()) < options_.max_idle) idle_.push_back(std::move(ctx));
}

void RedisCache::MarkFailed() {
  absl::MutexLock lock(&mu_);
  retry_after_ = clock_.Now() + options_.backoff;
  idle_.clear();  // they are most likely dead too
}

absl::StatusOr<std::optional<std::string>> RedisCache::Get(std::string_view key) {
  absl::StatusOr<ContextPtr> ctx = Acquire(false);
  if (!ctx.ok()) return ctx.status();
  ReplyPtr reply(
      static_cast<redisReply*>(redisCommand(ctx->get(), "GET %b", key.data(), key.size())));
  if (reply == nullptr) {
    std::string why = (*ctx)->errstr;
    MarkFailed();
    return absl::UnavailableError(absl::StrCat("redis GET: ", why));
  }
  std::optional<std::string> value;
  if (reply->type == REDIS_REPLY_STRING) {
    value = std::string(reply->str, reply->len);
  } else if (reply->type != REDIS_REPLY_NIL) {
    Release(std::move(*ctx));
    return absl::InternalError("redis GET: unexpected reply");
  }
  Release(std::move(*ctx));
  return value;
}

absl::Status RedisCache::Set(std::string_view key, std::string_view value,
                             std::chrono::seconds ttl) {
  absl::StatusOr<ContextPtr> ctx = Acquire(false);
  if (!ctx.ok()) return ctx.status();
  const std::string seconds = std::to_string(ttl.count());
  ReplyPtr reply(
      static_cast<redisReply*>(redisCommand(ctx->get(), "SET %b %b EX %s", key.data(), key.size(),
                                            value.data(), value.size(), seconds.c_str())));
  if (reply == nullptr) {
    std::string why = (*ctx)->errstr;
    MarkFailed();
    return absl::UnavailableError(absl::StrCat("redis SET: ", why));
  }
  const bool ok = reply->type == REDIS_REPLY_STATUS;
  std::string error = reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len) : "";
  Release(std::move(*ctx));
  if (!ok) return absl::InternalError(absl::StrCat("redis SET: ", error));
  return absl::OkStatus();
}

absl::Status RedisCache::Ping() {
  absl::StatusOr<ContextPtr> ctx = Acquire(true);
  if (!ctx.ok()) return ctx.status();
  ReplyPtr reply(static_cast<redisReply*>(redisCommand(ctx->get(), "PING")));
  if (reply == nullptr) {
    std::string why = (*ctx)->errstr;
    MarkFailed();
    return absl::UnavailableError(absl::StrCat("redis PING: ", why));
  }
  const bool ok = reply->type == REDIS_REPLY_STATUS;
  Release(std::move(*ctx));
  if (!ok) return absl::UnavailableError("redis PING: unexpected reply");
  return absl::OkStatus();
}

}  // namespace hut::foohut
