#ifndef HUT_HTTP_CLIENT_H_
#define HUT_HTTP_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/http/message.h"

namespace hut::http {

struct ClientRequest {
  std::string method = "GET";
  std::string host = "127.0.0.1";
  uint16_t port = 80;
  std::string target = "/";
  Headers headers{};
  std::string body{};
  std::chrono::milliseconds timeout{5000};  // connect + write + read
};

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;
  std::optional<std::string> Header(std::string_view name) const;
};

// One request on a fresh connection, synchronously. A transport failure
// (refused, reset, timeout) is an error status; any HTTP status is a value.
// Each calling thread keeps one event loop for all its requests; when the
// process is out of file descriptors or memory the answer is
// ResourceExhausted, never an exception. Safe to call from any thread.
absl::StatusOr<ClientResponse> Fetch(const ClientRequest& request);

// Receives a streamed body piece by piece; false stops reading.
using StreamCallback = std::function<bool(std::string_view piece)>;

// One request on a fresh connection, whose response body (chunked,
// close-delimited or with a length) is handed to `on_data` as it arrives, on
// the calling thread, in pieces of any size that need not follow the
// server's writes (feed them to an SseParser for events). Blocks until
// `on_data` returns false, the body ends, or the connection fails.
// request.timeout bounds connecting, sending and receiving the response
// head; after that it bounds each wait for more of the body (an idle
// timeout), not the whole stream.
//
// Returns the status and headers, with an empty body, for a 2xx answer.
// Any other status is not streamed: `on_data` is not called and the body (at
// most 1 MiB, e.g. a JSON error) is returned in ClientResponse::body.
// Errors: InvalidArgument for a bad method or target; DeadlineExceeded when
// nothing arrives for request.timeout; Unavailable when the connection fails
// or the body breaks off (no final chunk) — pieces before it were delivered.
absl::StatusOr<ClientResponse> FetchStream(const ClientRequest& request,
                                           const StreamCallback& on_data);

}  // namespace hut::http

#endif  // HUT_HTTP_CLIENT_H_
