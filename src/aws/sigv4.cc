#include "src/aws/sigv4.h"

#include <sodium.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/http/message.h"

namespace hut::aws {
namespace {

constexpr char kAlgorithm[] = "AWS4-HMAC-SHA256";

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                              key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()),
                                data.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&state, mac);
  return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

// A header value as SigV4 compares it: trimmed, inner runs of spaces made one.
std::string TrimValue(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : absl::StripAsciiWhitespace(absl::string_view(value.data(), value.size()))) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string SignedHeaders(const CanonicalInput& r) {
  std::vector<std::string> names;
  for (const auto& [name, value] : r.headers) names.push_back(absl::AsciiStrToLower(name));
  std::sort(names.begin(), names.end());
  return absl::StrJoin(names, ";");
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return Hex(digest, sizeof digest);
}

std::string CanonicalRequest(const CanonicalInput& r) {
  std::vector<std::pair<std::string, std::string>> query;
  for (const auto& [name, value] : r.query) {
    query.emplace_back(http::PercentEncode(name, false), http::PercentEncode(value, false));
  }
  std::sort(query.begin(), query.end());
  std::vector<std::string> pairs;
  for (const auto& [name, value] : query) pairs.push_back(absl::StrCat(name, "=", value));
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : r.headers) {
    headers.emplace_back(absl::AsciiStrToLower(name), TrimValue(value));
  }
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers;
  for (const auto& [name, value] : headers) absl::StrAppend(&canonical_headers, name, ":", value, "\n");
  return absl::StrCat(r.method, "\n", r.path.empty() ? "/" : r.path, "\n",
                      absl::StrJoin(pairs, "&"), "\n", canonical_headers, "\n", SignedHeaders(r),
                      "\n", r.payload_sha256);
}

std::string StringToSign(const std::string& canonical_request, absl::Time now,
                         const std::string& scope) {
  return absl::StrCat(kAlgorithm, "\n", absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone()),
                      "\n", scope, "\n", Sha256Hex(canonical_request));
}

std::string Sign(CanonicalInput& request, const Credentials& credentials,
                 const std::string& region, const std::string& service, absl::Time now) {
  const std::string date = absl::FormatTime("%Y%m%d", now, absl::UTCTimeZone());
  request.headers["x-amz-date"] = absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone());
  if (!credentials.session_token.empty()) {
    request.headers["x-amz-security-token"] = credentials.session_token;
  }
  const std::string scope = absl::StrCat(date, "/", region, "/", service, "/aws4_request");
  const std::string to_sign = StringToSign(CanonicalRequest(request), now, scope);
  std::string key = HmacSha256(absl::StrCat("AWS4", credentials.secret_access_key.Reveal()), date);
  key = HmacSha256(key, region);
  key = HmacSha256(key, service);
  key = HmacSha256(key, "aws4_request");
  const std::string signature = HmacSha256(key, to_sign);
  return absl::StrCat(kAlgorithm, " Credential=", credentials.access_key_id, "/", scope,
                      ", SignedHeaders=", SignedHeaders(request), ", Signature=",
                      Hex(reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size()));
}

}  // namespace hut::aws
