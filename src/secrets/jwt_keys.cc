#include "src/secrets/jwt_keys.h"

#include <sodium.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/common/secret.h"

namespace hut::secrets {
namespace fs = std::filesystem;

Secret NewJwtKeySet(const Clock& clock) {
  if (sodium_init() < 0) abort();  // no randomness: nothing safe to carry on with
  unsigned char key[32];
  randombytes_buf(key, sizeof key);
  std::string b64(sodium_base64_ENCODED_LEN(sizeof key, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
  b64.resize(std::strlen(b64.c_str()));
  sodium_memzero(key, sizeof key);
  const std::string kid = absl::StrCat(
      "hut-", std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch())
                  .count());
  nlohmann::json keys = {{"active_kid", kid}, {"keys", {{kid, b64}}}};
  WipeString(b64);
  std::string text = keys.dump();
  WipeString(keys["keys"][kid].get_ref<std::string&>());
  return Secret(std::move(text));
}

absl::Status EnsureJwtKeys(const std::string& path, const Clock& clock) {
  if (fs::exists(path)) return absl::OkStatus();
  const Secret keys = NewJwtKeySet(clock);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", path, ": ", ec.message()));
  return WritePrivateFile(path, keys.Reveal() + "\n");
}

}  // namespace hut::secrets
