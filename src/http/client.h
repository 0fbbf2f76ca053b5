#ifndef HUT_HTTP_CLIENT_H_
#define HUT_HTTP_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <string>

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
absl::StatusOr<ClientResponse> Fetch(const ClientRequest& request);

}  // namespace hut::http

#endif  // HUT_HTTP_CLIENT_H_
