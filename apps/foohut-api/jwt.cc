#include "apps/foohut-api/jwt.h"

#include <sodium.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "apps/foohut-api/strings.h"
#include "nlohmann/json.hpp"

namespace hut::foohut {
namespace {

using nlohmann::json;

absl::StatusOr<std::string> DecodeBase64(std::string_view text, int variant) {
  std::string out(text.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, nullptr, variant) != 0) {
    return absl::InvalidArgumentError("invalid base64");
  }
  out.resize(len);
  return out;
}

int64_t ToUnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixSeconds(int64_t s) { return TimePoint(std::chrono::seconds(s)); }

absl::Status Unauthenticated(std::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("invalid token: ", Absl(why)));
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), variant);
  out.resize(std::strlen(out.c_str()));
  return out;
}

absl::StatusOr<std::string> Base64UrlDecode(std::string_view text) {
  return DecodeBase64(text, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

absl::StatusOr<JwtKeySet> ParseJwtKeySet(std::string_view json_text) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", e.what()));
  }
  if (!doc.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  auto active = doc.find("active_kid");
  if (active == doc.end() || !active->is_string() || active->get<std::string>().empty()) {
    return absl::InvalidArgumentError("\"active_kid\" must be a non-empty string");
  }
  auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_object() || keys->empty()) {
    return absl::InvalidArgumentError("\"keys\" must be a non-empty object of kid: base64 key");
  }
  JwtKeySet set;
  set.active_kid = active->get<std::string>();
  for (const auto& [kid, value] : keys->items()) {
    if (kid.empty()) return absl::InvalidArgumentError("a key id is empty");
    if (!value.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("key \"", kid, "\" must be a string"));
    }
    std::string text = value.get<std::string>();
    while (!text.empty() && text.back() == '=') text.pop_back();
    absl::StatusOr<std::string> raw = DecodeBase64(text, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    if (!raw.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("key \"", kid, "\" is not valid base64"));
    }
    if (raw->size() < kMinJwtKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat("key \"", kid, "\" has ", raw->size(),
                                                     " bytes; at least ", kMinJwtKeyBytes,
                                                     " are needed"));
    }
    set.keys.emplace(kid, Secret(std::move(*raw)));
  }
  if (!set.keys.contains(set.active_kid)) {
    return absl::InvalidArgumentError(
        absl::StrCat("active_kid \"", set.active_kid, "\" is not among \"keys\""));
  }
  return set;
}

absl::StatusOr<JwtKeySet> LoadJwtKeySet(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read JWT keys file ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<JwtKeySet> set = ParseJwtKeySet(text.str());
  if (!set.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWT keys file ", path, ": ", set.status().message()));
  }
  return set;
}

JwtKeySet EphemeralJwtKeySet() {
  std::string key(kMinJwtKeyBytes, '\0');
  randombytes_buf(key.data(), key.size());
  unsigned char id[4];
  randombytes_buf(id, sizeof id);
  char hex[2 * sizeof id + 1];
  sodium_bin2hex(hex, sizeof hex, id, sizeof id);
  JwtKeySet set;
  set.active_kid = absl::StrCat("ephemeral-", hex);
  set.keys.emplace(set.active_kid, Secret(std::move(key)));
  return set;
}

JwtCodec::JwtCodec(JwtKeySet keys, const Clock& clock, JwtOptions options)
    : keys_(std::make_shared<const JwtKeySet>(std::move(keys))), clock_(clock), options_(options) {}

void JwtCodec::Replace(JwtKeySet keys) {
  auto next = std::make_shared<const JwtKeySet>(std::move(keys));
  absl::MutexLock lock(&mu_);
  keys_ = std::move(next);
}

std::shared_ptr<const JwtKeySet> JwtCodec::Keys() const {
  absl::MutexLock lock(&mu_);
  return keys_;
}

std::vector<std::string> JwtCodec::kids() const {
  std::vector<std::string> out;
  for (const auto& [kid, key] : Keys()->keys) out.push_back(kid);
  return out;
}

std::string JwtCodec::active_kid() const { return Keys()->active_kid; }

std::string JwtCodec::Mac(const Secret& key, std::string_view signing_input) const {
  // The _init/_update/_final form takes keys of any length.
  crypto_auth_hmacsha256_state state;
  const std::string& k = key.Reveal();
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(k.data()), k.size());
  crypto_auth_hmacsha256_update(
      &state, reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
  std::string mac(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&state, reinterpret_cast<unsigned char*>(mac.data()));
  sodium_memzero(&state, sizeof state);
  return mac;
}

std::string JwtCodec::Sign(int64_t user_id, std::string_view email) const {
  const std::shared_ptr<const JwtKeySet> keys = Keys();
  const int64_t now = ToUnixSeconds(clock_.Now());
  const int64_t ttl = std::chrono::duration_cast<std::chrono::seconds>(options_.ttl).count();
  json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", keys->active_kid}};
  json payload = {
      {"sub", std::to_string(user_id)}, {"email", email}, {"iat", now}, {"exp", now + ttl}};
  std::string input =
      absl::StrCat(Base64UrlEncode(header.dump()), ".", Base64UrlEncode(payload.dump()));
  std::string mac = Mac(keys->keys.at(keys->active_kid), input);
  return absl::StrCat(input, ".", Base64UrlEncode(mac));
}

absl::StatusOr<JwtClaims> JwtCodec::Verify(std::string_view token) const {
  std::vector<absl::string_view> parts = absl::StrSplit(Absl(token), '.');
  if (parts.size() != 3) return Unauthenticated("not three parts");
  absl::StatusOr<std::string> header_text = Base64UrlDecode(Std(parts[0]));
  absl::StatusOr<std::string> payload_text = Base64UrlDecode(Std(parts[1]));
  absl::StatusOr<std::string> signature = Base64UrlDecode(Std(parts[2]));
  if (!header_text.ok() || !payload_text.ok() || !signature.ok()) {
    return Unauthenticated("bad base64url");
  }
  json header;
  json payload;
  try {
    header = json::parse(*header_text);
    payload = json::parse(*payload_text);
  } catch (const json::exception&) {
    return Unauthenticated("bad JSON");
  }
  if (!header.is_object() || !payload.is_object()) return Unauthenticated("bad JSON");
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || alg->get<std::string>() != "HS256") {
    return Unauthenticated("algorithm must be HS256");
  }
  auto kid = header.find("kid");
  if (kid == header.end() || !kid->is_string()) return Unauthenticated("no key id");
  const std::shared_ptr<const JwtKeySet> keys = Keys();
  auto key = keys->keys.find(kid->get<std::string>());
  if (key == keys->keys.end()) return Unauthenticated("unknown key id");
  const std::string_view signing_input = token.substr(0, parts[0].size() + 1 + parts[1].size());
  std::string expected = Mac(key->second, signing_input);
  if (signature->size() != expected.size() ||
      sodium_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    return Unauthenticated("bad signature");
  }

  auto number = [&](const char* name) -> std::optional<int64_t> {
    auto it = payload.find(name);
    if (it == payload.end() || !it->is_number()) return std::nullopt;
    return it->get<int64_t>();
  };
  std::optional<int64_t> exp = number("exp");
  std::optional<int64_t> iat = number("iat");
  if (!exp || !iat) return Unauthenticated("exp and iat are required");
  const int64_t now = ToUnixSeconds(clock_.Now());
  const int64_t leeway = std::chrono::duration_cast<std::chrono::seconds>(options_.leeway).count();
  if (now >= *exp + leeway) return Unauthenticated("expired");
  if (*iat > now + leeway) return Unauthenticated("issued in the future");
  if (payload.contains("nbf")) {
    std::optional<int64_t> nbf = number("nbf");
    if (!nbf) return Unauthenticated("bad nbf");
    if (*nbf > now + leeway) return Unauthenticated("not yet valid");
  }

  JwtClaims claims;
  auto sub = payload.find("sub");
  if (sub == payload.end() || !sub->is_string()) return Unauthenticated("no subject");
  const std::string& sub_text = sub->get_ref<const std::string&>();
  char* end = nullptr;
  long long id = std::strtoll(sub_text.c_str(), &end, 10);
  if (sub_text.empty() || *end != '\0' || id <= 0) return Unauthenticated("bad subject");
  claims.sub = id;
  if (auto email = payload.find("email"); email != payload.end() && email->is_string()) {
    claims.email = email->get<std::string>();
  }
  claims.iat = FromUnixSeconds(*iat);
  claims.exp = FromUnixSeconds(*exp);
  return claims;
}

JwtKeyFileWatcher::JwtKeyFileWatcher(std::string path, JwtCodec& codec, Logger log,
                                     const Clock& clock, Duration interval)
    : codec_(codec),
      log_(std::move(log)),
      watcher_(path, [this, path](const Secret& content) { return Take(path, content); }, clock,
               interval) {}

bool JwtKeyFileWatcher::Take(const std::string& path, const Secret& content) {
  absl::StatusOr<JwtKeySet> keys = ParseJwtKeySet(content.Reveal());
  if (!keys.ok()) {
    log_.Error("JWT keys file changed but is not valid; keeping the current keys",
               {{"file", path}, {"error", std::string(keys.status().message())}});
    return false;
  }
  const std::string active = keys->active_kid;
  codec_.Replace(*std::move(keys));
  log_.Info("JWT keys reloaded", {{"file", path}, {"active_kid", active},
                                  {"kids", absl::StrJoin(codec_.kids(), ",")}});
  return true;
}

}  // namespace hut::foohut
