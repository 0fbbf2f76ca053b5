#include "apps/foohut-api/password.h"

#include <sodium.h>

#include <algorithm>
#include <mutex>

namespace hut::foohut {
namespace {

// Releases a semaphore slot on scope exit.
class SlotGuard {
 public:
  explicit SlotGuard(std::counting_semaphore<64>& s) : s_(s) { s_.acquire(); }
  ~SlotGuard() { s_.release(); }

 private:
  std::counting_semaphore<64>& s_;
};

}  // namespace

PasswordHasher::PasswordHasher(int max_concurrent) : slots_(std::clamp(max_concurrent, 1, 64)) {}

absl::StatusOr<std::string> PasswordHasher::Hash(const Secret& password) {
  SlotGuard slot(slots_);
  char out[crypto_pwhash_STRBYTES];
  const std::string& p = password.Reveal();
  if (crypto_pwhash_str_alg(out, p.data(), p.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return absl::ResourceExhaustedError("password hashing ran out of memory");
  }
  return std::string(out);
}

bool PasswordHasher::Verify(const std::string& hash, const Secret& password) {
  SlotGuard slot(slots_);
  const std::string& p = password.Reveal();
  return crypto_pwhash_str_verify(hash.c_str(), p.data(), p.size()) == 0;
}

void PasswordHasher::VerifyDummy(const Secret& password) {
  std::call_once(dummy_once_, [this] {
    absl::StatusOr<std::string> h = Hash(Secret("not a real password"));
    dummy_hash_ = h.ok() ? *h : "";
  });
  Verify(dummy_hash_, password);
}

}  // namespace hut::foohut
