#include "src/http/trace_context.h"

#include <sodium.h>

#include <cstdlib>
#include <vector>

namespace hut::http {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

int HexByte(std::string_view two) {
  auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  return v(two[0]) * 16 + v(two[1]);
}

void EnsureSodium() {
  // sodium_init() is thread-safe and idempotent; the static only saves the call.
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();  // No CSPRNG: nothing sensible to do.
}

std::string NonZeroRandomHex(size_t bytes) {
  std::string id;
  do {
    id = RandomHex(bytes);
  } while (AllZero(id));
  return id;
}

bool ValidRequestIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == ':' || c == '-';
}

}  // namespace

std::string TraceContext::ToTraceparent() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "00-" + trace_id + "-" + span_id + "-";
  out.push_back(kHex[flags >> 4]);
  out.push_back(kHex[flags & 0xf]);
  return out;
}

// version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 = 55 characters.
std::optional<TraceContext> ParseTraceparent(std::string_view value) {
  constexpr size_t kLength = 55;
  if (value.size() < kLength) return std::nullopt;
  const std::string_view version = value.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00") {
    if (value.size() != kLength) return std::nullopt;
  } else if (value.size() > kLength && value[kLength] != '-') {
    // A future version may append fields, each after a '-'.
    return std::nullopt;
  }
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  const std::string_view trace_id = value.substr(3, 32);
  const std::string_view parent_id = value.substr(36, 16);
  const std::string_view flags = value.substr(53, 2);
  if (!IsLowerHex(trace_id) || !IsLowerHex(parent_id) || !IsLowerHex(flags)) return std::nullopt;
  if (AllZero(trace_id) || AllZero(parent_id)) return std::nullopt;
  TraceContext context;
  context.trace_id = std::string(trace_id);
  context.parent_id = std::string(parent_id);
  context.flags = static_cast<uint8_t>(HexByte(flags));
  return context;
}

TraceContext TraceContextFor(std::optional<std::string_view> traceparent) {
  TraceContext context;
  if (traceparent) {
    if (std::optional<TraceContext> parsed = ParseTraceparent(*traceparent)) context = *parsed;
  }
  if (context.trace_id.empty()) context.trace_id = NonZeroRandomHex(16);
  context.span_id = NonZeroRandomHex(8);
  return context;
}

std::string RequestIdFor(std::optional<std::string_view> x_request_id) {
  if (x_request_id && !x_request_id->empty() && x_request_id->size() <= 128) {
    bool valid = true;
    for (char c : *x_request_id) valid = valid && ValidRequestIdChar(c);
    if (valid) return std::string(*x_request_id);
  }
  return RandomHex(16);
}

std::string RandomHex(size_t bytes) {
  EnsureSodium();
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  std::string out(bytes * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), raw.data(), raw.size());
  out.resize(bytes * 2);
  return out;
}

}  // namespace hut::http
