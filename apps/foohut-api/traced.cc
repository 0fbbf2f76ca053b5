#include "apps/foohut-api/traced.h"

#include "absl/strings/str_cat.h"

namespace hut::foohut {
namespace {

template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& r) {
  return r.status();
}
const absl::Status& StatusOf(const absl::Status& s) { return s; }

template <typename R>
void End(tracing::ScopedSpan& span, const R& result) {
  const absl::Status& s = StatusOf(result);
  // A miss or a duplicate is an answer, not a failure of the call.
  if (!s.ok() && s.code() != absl::StatusCode::kNotFound && s.code() != absl::StatusCode::kAlreadyExists) {
    span.SetError(std::string(s.message()));
  }
}

}  // namespace

template <typename F>
auto TracedStore::Traced(const char* operation, const char* table, F call) {
  tracing::ScopedSpan span(tracer_, clock_, absl::StrCat(operation, " ", table), tracing::SpanKind::kClient);
  span.SetAttribute("db.system.name", "postgresql");
  span.SetAttribute("db.operation.name", operation);
  span.SetAttribute("db.collection.name", table);
  auto result = call();
  End(span, result);
  return result;
}

absl::StatusOr<User> TracedStore::CreateUser(std::string_view email, std::string_view password_hash) {
  return Traced("INSERT", "users", [&] { return inner_.CreateUser(email, password_hash); });
}
absl::StatusOr<User> TracedStore::FindUserByEmail(std::string_view email) {
  return Traced("SELECT", "users", [&] { return inner_.FindUserByEmail(email); });
}
absl::StatusOr<CreatedPage> TracedStore::CreatePage(int64_t owner_id, std::string_view title,
                                                    std::string_view body) {
  return Traced("INSERT", "pages", [&] { return inner_.CreatePage(owner_id, title, body); });
}
absl::StatusOr<Page> TracedStore::GetPage(int64_t id) {
  return Traced("SELECT", "pages", [&] { return inner_.GetPage(id); });
}
absl::StatusOr<std::vector<Page>> TracedStore::SearchPages(std::string_view query, int limit) {
  return Traced("SELECT", "pages", [&] { return inner_.SearchPages(query, limit); });
}

absl::StatusOr<std::optional<std::string>> TracedCache::Get(std::string_view key) {
  tracing::ScopedSpan span(tracer_, clock_, "GET", tracing::SpanKind::kClient);
  span.SetAttribute("db.system.name", "redis");
  span.SetAttribute("db.operation.name", "GET");
  auto r = inner_.Get(key);
  End(span, r);
  if (r.ok()) span.SetAttribute("cache.hit", r->has_value());
  return r;
}

absl::Status TracedCache::Set(std::string_view key, std::string_view value, std::chrono::seconds ttl) {
  tracing::ScopedSpan span(tracer_, clock_, "SET", tracing::SpanKind::kClient);
  span.SetAttribute("db.system.name", "redis");
  span.SetAttribute("db.operation.name", "SET");
  absl::Status s = inner_.Set(key, value, ttl);
  End(span, s);
  return s;
}

}  // namespace hut::foohut
