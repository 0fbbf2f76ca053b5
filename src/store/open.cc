#include "src/store/open.h"

#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/store/postgres_store.h"
#include "src/store/sqlite_store.h"

namespace hut::store {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

absl::StatusOr<StoreKind> StoreKindOf(const std::string& url) {
  if (url.empty()) return absl::InvalidArgumentError("store: empty store URL");
  if (StartsWith(url, "postgresql://") || StartsWith(url, "postgres://")) {
    return StoreKind::kPostgres;
  }
  if (StartsWith(url, "sqlite:")) return StoreKind::kSqlite;
  if (size_t scheme = url.find("://"); scheme != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("store: unknown kind of store \"", url.substr(0, scheme),
                     "://\"; use postgresql://..., sqlite:PATH or a file path"));
  }
  return StoreKind::kSqlite;
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url, const Clock& clock) {
  HUT_ASSIGN_OR_RETURN(StoreKind kind, StoreKindOf(url));
  switch (kind) {
    case StoreKind::kPostgres: {
      HUT_ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> store,
                           PostgresStore::Open(url, clock));
      return std::unique_ptr<Store>(std::move(store));
    }
    case StoreKind::kSqlite: {
      const std::string path = StartsWith(url, "sqlite:") ? url.substr(7) : url;
      HUT_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(path, clock));
      return std::unique_ptr<Store>(std::move(store));
    }
  }
  return absl::InternalError("store: unreachable");
}

}  // namespace hut::store
