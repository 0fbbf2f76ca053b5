#ifndef HUT_HTTP_URL_CLIENT_H_
#define HUT_HTTP_URL_CLIENT_H_

// One request to a URL, http:// or https:// (libcurl, the system's CA
// certificates): how hut reaches services outside the machine, such as
// PagerDuty and Slack. (Client.h speaks plain HTTP to loopback servers.)

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "src/http/client.h"
#include "src/http/message.h"

namespace hut::http {

struct UrlRequest {
  std::string method = "POST";
  std::string url;
  Headers headers{};
  std::string body{};
  std::chrono::milliseconds timeout{10000};  // the whole exchange
  size_t max_body = 1 << 20;  // of the answer
};

// Any HTTP status is a value. Errors: ResourceExhausted for an answer
// longer than max_body; InvalidArgument
// for a URL that is not http(s)://; DeadlineExceeded when the exchange took
// longer than the timeout; Unavailable for any other transport failure
// (refused, reset, name or TLS errors), naming the URL without its path,
// which may hold a secret (a Slack webhook's does).
absl::StatusOr<ClientResponse> FetchUrl(const UrlRequest& request);

// libcurl's global initialisation, once per process, before any handle: for
// every libcurl user in hut (its own once would race another's).
void InitCurl();

// "scheme://host[:port]" of a URL: what messages show of it.
std::string UrlOrigin(const std::string& url);

}  // namespace hut::http

#endif  // HUT_HTTP_URL_CLIENT_H_
