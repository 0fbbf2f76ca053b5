#ifndef HUT_APPS_FOOHUT_API_TRACED_H_
#define HUT_APPS_FOOHUT_API_TRACED_H_

// The store and the cache with a client span per call, a child of the
// request's span (OpenTelemetry's database conventions: "SELECT pages",
// db.system.name, db.operation.name). Outside a request (health checks'
// Ping) nothing is recorded.

#include "apps/foohut-api/cache.h"
#include "apps/foohut-api/store.h"
#include "src/common/clock.h"
#include "src/tracing/tracing.h"

namespace hut::foohut {

class TracedStore final : public Store {
 public:
  TracedStore(Store& inner, tracing::Exporter* tracer, const Clock& clock)
      : inner_(inner), tracer_(tracer), clock_(clock) {}
  absl::StatusOr<User> CreateUser(std::string_view email, std::string_view password_hash) override;
  absl::StatusOr<User> FindUserByEmail(std::string_view email) override;
  absl::StatusOr<CreatedPage> CreatePage(int64_t owner_id, std::string_view title,
                                         std::string_view body) override;
  absl::StatusOr<Page> GetPage(int64_t id) override;
  absl::StatusOr<std::vector<Page>> SearchPages(std::string_view query, int limit) override;
  absl::Status Ping() override { return inner_.Ping(); }

 private:
  template <typename F>
  auto Traced(const char* operation, const char* table, F call);
  Store& inner_;
  tracing::Exporter* tracer_;
  const Clock& clock_;
};

class TracedCache final : public Cache {
 public:
  TracedCache(Cache& inner, tracing::Exporter* tracer, const Clock& clock)
      : inner_(inner), tracer_(tracer), clock_(clock) {}
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override;
  absl::Status Set(std::string_view key, std::string_view value, std::chrono::seconds ttl) override;
  absl::Status Ping() override { return inner_.Ping(); }

 private:
  Cache& inner_;
  tracing::Exporter* tracer_;
  const Clock& clock_;
};

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_TRACED_H_
