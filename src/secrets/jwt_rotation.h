#ifndef HUT_SECRETS_JWT_ROTATION_H_
#define HUT_SECRETS_JWT_ROTATION_H_

// Rotating the environment's JWT signing keys without logging anyone out
// (ADR-009: every 90 days), in Secrets Manager's four steps, each one's
// result kept in the backend so that a control plane killed at any point
// resumes where it was:
//   1. create: a pending version with the old keys plus a new key id, still
//      signing with the old one;
//   2. set: that key set handed to every replica (they can now verify
//      tokens of the new key);
//   3. test: every replica reports it loaded the new key id; if not within
//      the timeout, the rotation is rolled back (pending dropped, the
//      current keys handed out again, `secret.rotation-failed`);
//   4. finish: a current version that signs with the new key and still
//      verifies the old one; pending dropped; done once every replica signs
//      with it (or the timeout passed: they take it from the file anyway).
// After the overlap (the longest token lifetime) the old key is retired: a
// current version with the new key alone. Events: secret.rotation-started,
// -finished, -failed, secret.key-retired (never a key).

#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/secrets/rotator.h"
#include "src/secrets/service.h"

namespace hut::secrets {

struct JwtRotationOptions {
  SecretsService* secrets = nullptr;
  const Clock* clock = nullptr;
  // policies.secrets.jwt.rotation; nullopt: on demand only.
  std::optional<Duration> period;
  // How long a replaced key keeps verifying: foohut-api's token lifetime
  // (1 h) and its clock leeway.
  Duration overlap = std::chrono::minutes(61);
  // Hands a key set to the runtime: the file replicas read, rewritten in
  // each running replica.
  std::function<absl::Status(const Secret& key_set)> deliver;
  // Whether every replica that uses the keys has loaded `kid` (with
  // `signing`, as the key it signs with).
  std::function<absl::StatusOr<bool>(const std::string& kid, bool signing)> loaded;
  Duration test_timeout = std::chrono::seconds(30);
  Duration test_interval = std::chrono::milliseconds(250);
};

class JwtRotator final : public SecretRotator {
 public:
  explicit JwtRotator(JwtRotationOptions options) : o_(std::move(options)) {}

  // A rotation now (`hut secrets rotate jwt`), or the end of one under way:
  // the new signing key's id. FailedPrecondition when the test step failed
  // (rolled back).
  absl::StatusOr<std::string> Rotate(const std::string& by) override;
  // What the schedule wants now: a rotation under way resumed, one started
  // when due (a missed one runs once), an old key past its overlap retired.
  absl::Status Tick() override;

 private:
  absl::StatusOr<std::string> RotateLocked(const std::string& by) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> Resume(const SecretValue& pending, const std::string& by)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Event(const std::string& type, const std::string& message, nlohmann::json data);
  // Asks `loaded` until it says yes or the test timeout passes: whether it did.
  absl::StatusOr<bool> WaitLoaded(const std::string& kid, bool signing);
  const JwtRotationOptions o_;
  absl::Mutex mu_;  // one rotation at a time (the API's and the schedule's)
};

// The key set's parts: its active kid and its kids (no key bytes).
struct KeySetIds {
  std::string active_kid;
  std::vector<std::string> kids;
};
absl::StatusOr<KeySetIds> KeySetIdsOf(const Secret& key_set);

}  // namespace hut::secrets

#endif  // HUT_SECRETS_JWT_ROTATION_H_
