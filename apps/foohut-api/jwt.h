#ifndef HUT_APPS_FOOHUT_API_JWT_H_
#define HUT_APPS_FOOHUT_API_JWT_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "apps/foohut-api/file_watcher.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/common/secret.h"

namespace hut::foohut {

// HMAC keys by key id. Tokens are signed with `active_kid` and verified with
// whichever key their `kid` header names, so keys rotate without logging
// anyone out: add the new key, make it active, drop the old one after the
// longest token lifetime.
struct JwtKeySet {
  std::string active_kid;
  std::map<std::string, Secret> keys;  // raw key bytes, at least kMinKeyBytes each
};

inline constexpr size_t kMinJwtKeyBytes = 32;  // RFC 7518 3.2: >= the hash size

// Reads {"active_kid": "k1", "keys": {"k1": "<base64>", ...}} (standard base64,
// padding optional). Errors name the file and what is wrong, never a key.
absl::StatusOr<JwtKeySet> ParseJwtKeySet(std::string_view json_text);
absl::StatusOr<JwtKeySet> LoadJwtKeySet(const std::string& path);
// One random key under kid "ephemeral-<hex>", for development only.
JwtKeySet EphemeralJwtKeySet();

struct JwtClaims {
  int64_t sub = 0;  // user id
  std::string email;
  TimePoint iat;
  TimePoint exp;
};

struct JwtOptions {
  Duration ttl = std::chrono::hours(1);
  // Tolerated clock difference between replicas for exp, nbf and iat.
  Duration leeway = std::chrono::seconds(30);
};

// HS256 JSON Web Tokens with a `kid` header. Thread-safe; the key set can be
// replaced while requests sign and verify (a rotation). `clock` must outlive it.
class JwtCodec {
 public:
  JwtCodec(JwtKeySet keys, const Clock& clock, JwtOptions options = {});

  // From now on, sign with `keys.active_kid` and verify with `keys`. A
  // request under way finishes with the set it started with.
  void Replace(JwtKeySet keys);
  // The set's key ids and the active one, for logs and /readyz.
  std::vector<std::string> kids() const;
  std::string active_kid() const;

  // A token for the user, issued now, signed with the active key.
  std::string Sign(int64_t user_id, std::string_view email) const;

  // Checks, in order: three base64url parts, header alg exactly "HS256" (so
  // "none" and others are refused), a known kid, the signature (constant
  // time), then exp, nbf and iat against the clock. Unauthenticated on any
  // failure, with a short reason safe to show to the caller.
  absl::StatusOr<JwtClaims> Verify(std::string_view token) const;

 private:
  std::string Mac(const Secret& key, std::string_view signing_input) const;
  std::shared_ptr<const JwtKeySet> Keys() const;

  mutable absl::Mutex mu_;
  std::shared_ptr<const JwtKeySet> keys_ ABSL_GUARDED_BY(mu_);
  const Clock& clock_;
  JwtOptions options_;
};

// Watches a key file (FOOHUT_JWT_KEYS_FILE) and puts each new valid version
// into the codec. A file that does not parse is logged and the current keys
// kept.
class JwtKeyFileWatcher {
 public:
  // Checks every `interval` of `clock` whether the file's content changed.
  JwtKeyFileWatcher(std::string path, JwtCodec& codec, Logger log, const Clock& clock,
                    Duration interval = std::chrono::seconds(1));

  // Reads the file now; true when it held a new valid key set.
  bool CheckNow() { return watcher_.CheckNow(); }

 private:
  bool Take(const std::string& path, const Secret& content);
  JwtCodec& codec_;
  const Logger log_;
  FileWatcher watcher_;  // last: its thread uses the members above
};

// base64url without padding, as JWT uses.
std::string Base64UrlEncode(std::string_view bytes);
absl::StatusOr<std::string> Base64UrlDecode(std::string_view text);

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_JWT_H_
