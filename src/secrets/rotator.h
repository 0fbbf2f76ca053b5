#ifndef HUT_SECRETS_ROTATOR_H_
#define HUT_SECRETS_ROTATOR_H_

// What rotates one of an environment's secrets, on demand and on its
// schedule (JwtRotator, DatabaseRotator; docs/secrets.md).

#include <string>

#include "absl/status/statusor.h"

namespace hut::secrets {

class SecretRotator {
 public:
  virtual ~SecretRotator() = default;
  // A rotation now, or the end of one under way: what is current after it
  // (a key id, a login). FailedPrecondition when it was rolled back or
  // cannot start yet.
  virtual absl::StatusOr<std::string> Rotate(const std::string& by) = 0;
  // What the schedule wants now: a rotation under way resumed, one started
  // when due (a missed one runs once), what an overlap kept retired.
  virtual absl::Status Tick() = 0;
};

}  // namespace hut::secrets

#endif  // HUT_SECRETS_ROTATOR_H_
