#include "src/health/health.h"

#include "absl/strings/str_cat.h"
#include "src/http/client.h"

namespace hut::health {

ProbeResult Probe(const std::string& host, uint16_t port, const std::string& path,
                  Duration timeout, const Clock& clock) {
  ProbeResult result;
  http::ClientRequest request;
  request.host = host;
  request.port = port;
  request.target = path;
  request.timeout = timeout;
  request.headers.emplace("User-Agent", "hut-probe");
  auto response = http::Fetch(request);
  result.at = clock.Now();
  if (!response.ok()) {
    result.detail = std::string(response.status().message());
    return result;
  }
  result.ok = response->status >= 200 && response->status < 300;
  result.detail = absl::StrCat("HTTP ", response->status);
  return result;
}

void FailureCounter::Record(const ProbeResult& result) {
  consecutive_failures_ = result.ok ? 0 : consecutive_failures_ + 1;
  last_ = result;
}

std::string FailureCounter::FailureReason(const std::string& path) const {
  if (!failed()) return "";
  return absl::StrCat(consecutive_failures_, " consecutive failed checks of ", path,
                      " (last: ", last_ ? last_->detail : "none", ")");
}

}  // namespace hut::health
