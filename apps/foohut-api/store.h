#ifndef HUT_APPS_FOOHUT_API_STORE_H_
#define HUT_APPS_FOOHUT_API_STORE_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hut::foohut {

struct User {
  int64_t id = 0;
  std::string email;
  std::string password_hash;
};

struct Page {
  int64_t id = 0;
  int64_t owner_id = 0;
  std::string title;
  std::string body;
  std::string created_at;  // RFC 3339, UTC
  friend bool operator==(const Page&, const Page&) = default;
};

// A page just created, and whether it is its owner's first (a conversion).
struct CreatedPage {
  Page page;
  bool owners_first = false;
};

// Where users and pages live. Implementations are safe for concurrent use.
// Errors: NotFound, AlreadyExists (duplicate email), Unavailable (database
// unreachable), Internal (anything else).
class Store {
 public:
  virtual ~Store() = default;
  virtual absl::StatusOr<User> CreateUser(std::string_view email,
                                          std::string_view password_hash) = 0;
  virtual absl::StatusOr<User> FindUserByEmail(std::string_view email) = 0;
  virtual absl::StatusOr<CreatedPage> CreatePage(int64_t owner_id, std::string_view title,
                                                 std::string_view body) = 0;
  virtual absl::StatusOr<Page> GetPage(int64_t id) = 0;
  // Full-text search, best match first, at most `limit` pages.
  virtual absl::StatusOr<std::vector<Page>> SearchPages(std::string_view query, int limit) = 0;
  // OK when the database answers a trivial query now.
  virtual absl::Status Ping() = 0;
};

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_STORE_H_
