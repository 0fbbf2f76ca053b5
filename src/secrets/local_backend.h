#ifndef HUT_SECRETS_LOCAL_BACKEND_H_
#define HUT_SECRETS_LOCAL_BACKEND_H_

// The embedded SecretBackend: one file (JSON, mode 0600) in the state
// folder, each value sealed with XChaCha20-Poly1305 (libsodium) under a
// master key that is never in that file: a 0400 key file, or the
// environment. The associated data binds each sealed value to its secret's
// name and version, so values cannot be swapped in the file unnoticed.

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/secrets/backend.h"

namespace hut::secrets {

struct LocalBackendOptions {
  std::string file;      // the store, e.g. STATE/secrets/store.json
  std::string key_file;  // the master key (64 hex characters), created 0400 when missing
  // The master key itself (64 hex characters), e.g. from HUT_SECRETS_MASTER_KEY;
  // when set, key_file is not used.
  Secret key;
};

class LocalSecretBackend final : public SecretBackend {
 public:
  // Refuses a key file others can read, a key that is not 32 bytes of hex,
  // and a store whose values the key does not open (the wrong key).
  static absl::StatusOr<std::unique_ptr<LocalSecretBackend>> Open(const LocalBackendOptions& options,
                                                                  const Clock& clock);
  ~LocalSecretBackend() override;

  std::string kind() const override { return "local"; }
  absl::Status Put(const std::string& name, const std::string& version_id, const Secret& value,
                   const std::vector<std::string>& stages) override;
  absl::StatusOr<SecretValue> Get(const std::string& name, const std::string& stage,
                                  const std::string& version_id) override;
  absl::Status MoveStage(const std::string& name, const std::string& stage,
                         const std::string& to) override;
  absl::StatusOr<SecretInfo> Describe(const std::string& name) override;
  absl::StatusOr<std::vector<std::string>> List(const std::string& prefix) override;

 private:
  struct State;
  LocalSecretBackend(std::string file, Secret key, const Clock& clock);
  absl::Status Save() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Secret> Unseal(const std::string& name, const std::string& version,
                                const std::string& sealed) const;
  std::string Seal(const std::string& name, const std::string& version, const Secret& value) const;

  const std::string file_;
  const Secret key_;  // 32 raw bytes
  const Clock& clock_;
  absl::Mutex mu_;
  std::unique_ptr<State> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hut::secrets

#endif  // HUT_SECRETS_LOCAL_BACKEND_H_
