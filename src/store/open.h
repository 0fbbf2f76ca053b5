#ifndef HUT_STORE_OPEN_H_
#define HUT_STORE_OPEN_H_

// Picks and opens the Store named by the server's configuration.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/clock.h"
#include "src/store/store.h"

namespace hut::store {

enum class StoreKind { kSqlite, kPostgres };

// What a store URL names:
//   "postgresql://..." or "postgres://..."  PostgreSQL (a libpq URI);
//   "sqlite:PATH", or a plain PATH           the SQLite file PATH
//                                            (":memory:" for tests).
// InvalidArgument for "" or an unknown "scheme://".
absl::StatusOr<StoreKind> StoreKindOf(const std::string& url);

// Opens the store `url` names (see StoreKindOf) with default options;
// `clock` must outlive it. Errors never show a password from the URL.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url, const Clock& clock);

}  // namespace hut::store

#endif  // HUT_STORE_OPEN_H_
