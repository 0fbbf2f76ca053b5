#ifndef HUT_APPS_FOOHUT_API_PASSWORD_H_
#define HUT_APPS_FOOHUT_API_PASSWORD_H_

#include <mutex>
#include <semaphore>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/secret.h"

namespace hut::foohut {

// Argon2id password hashing (libsodium, "interactive" limits: 64 MiB, ~0.1 s).
// Hashes are self-describing strings ("$argon2id$v=19$m=...") so limits can
// change later without breaking stored hashes. Thread-safe; at most
// `max_concurrent` hashes run at once, bounding memory to ~64 MiB each.
class PasswordHasher {
 public:
  explicit PasswordHasher(int max_concurrent = 2);

  absl::StatusOr<std::string> Hash(const Secret& password);
  // False for a wrong password or a malformed hash.
  bool Verify(const std::string& hash, const Secret& password);
  // Spends the same effort as a Verify() that fails, for an unknown user, so
  // that timing does not tell which emails have accounts.
  void VerifyDummy(const Secret& password);

 private:
  std::counting_semaphore<64> slots_;
  std::string dummy_hash_;  // lazily made under dummy_once_
  std::once_flag dummy_once_;
};

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_PASSWORD_H_
