#include "src/http/url.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace hut::http {

absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return absl::InvalidArgumentError("not an http:// URL");
  std::string_view rest = url.substr(kScheme.size());
  HttpUrl out;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    out.path = std::string(rest.substr(slash));
    rest = rest.substr(0, slash);
  }
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return absl::InvalidArgumentError("no HOST:PORT");
  uint32_t port = 0;
  const std::string port_text(rest.substr(colon + 1));
  if (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port \"", port_text, "\""));
  }
  out.host = std::string(rest.substr(0, colon));
  out.port = static_cast<uint16_t>(port);
  return out;
}

}  // namespace hut::http
