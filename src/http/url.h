#ifndef HUT_HTTP_URL_H_
#define HUT_HTTP_URL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hut::http {

// http://HOST:PORT[/PATH], the only URLs hut's plain-HTTP clients take.
struct HttpUrl {
  std::string host;
  uint16_t port = 0;
  std::string path;  // "" when the URL has none
};

// InvalidArgument, saying what is wrong, for anything else: another
// scheme, no host, no port, a port outside 1..65535.
absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url);

}  // namespace hut::http

#endif  // HUT_HTTP_URL_H_
