#ifndef HUT_HTTP_TRACE_CONTEXT_H_
#define HUT_HTTP_TRACE_CONTEXT_H_

#include <optional>
#include <string>
#include <string_view>

namespace hut::http {

// W3C Trace Context (https://www.w3.org/TR/trace-context/) for one request.
struct TraceContext {
  std::string trace_id;   // 32 lowercase hex, not all zero
  std::string parent_id;  // 16 lowercase hex, not all zero: the caller's span
  std::string span_id;    // 16 lowercase hex: this server's span
  uint8_t flags = 0;      // bit 0: sampled

  // "00-<trace_id>-<span_id>-<flags>": what this server sends onwards and
  // echoes in its response.
  std::string ToTraceparent() const;
};

// Parses a traceparent header value. nullopt when it is invalid: wrong
// lengths, uppercase or non-hex, all-zero ids, version "ff", or version 00
// with trailing data.
std::optional<TraceContext> ParseTraceparent(std::string_view value);

// The context for an incoming request: the caller's trace id and flags when
// `traceparent` is valid, a fresh trace otherwise; always a fresh span id.
TraceContext TraceContextFor(std::optional<std::string_view> traceparent);

// X-Request-ID: accepted when 1..128 characters of [A-Za-z0-9._:-]; else a
// fresh 32-hex id is generated.
std::string RequestIdFor(std::optional<std::string_view> x_request_id);

// Random lowercase hex string of `bytes` bytes (libsodium's CSPRNG).
std::string RandomHex(size_t bytes);

}  // namespace hut::http

#endif  // HUT_HTTP_TRACE_CONTEXT_H_
