#include "src/http/url_client.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace hut::http {
namespace {

struct Body {
  std::string* text;
  size_t max;
};

size_t CollectBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  if (body->text->size() + size * n > body->max) return 0;  // libcurl fails the transfer
  body->text->append(data, size * n);
  return size * n;
}

// Each header line ("Name: value\r\n"); the status line and the blank line are skipped.
size_t CollectHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<Headers*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) headers->clear();  // a new response (after 100 Continue)
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    const size_t start = value.find_first_not_of(" \t");
    const size_t end = value.find_last_not_of(" \t\r\n");
    value = start == std::string::npos ? "" : value.substr(start, end - start + 1);
    headers->emplace(line.substr(0, colon), std::move(value));
  }
  return size * n;
}

}  // namespace

void InitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string UrlOrigin(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "(not a URL)";
  const size_t path = url.find_first_of("/?#", scheme + 3);
  std::string origin = url.substr(0, path);
  if (const size_t at = origin.find('@', scheme + 3); at != std::string::npos) {
    origin = absl::StrCat(origin.substr(0, scheme + 3), origin.substr(at + 1));  // no user:password
  }
  return origin;
}

absl::StatusOr<ClientResponse> FetchUrl(const UrlRequest& request) {
  if (request.url.rfind("http://", 0) != 0 && request.url.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(UrlOrigin(request.url), ": expected an http:// or https:// URL"));
  }
  InitCurl();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
  if (!c) return absl::ResourceExhaustedError("cannot start a libcurl request");
  curl_slist* list = nullptr;
  for (const auto& [name, value] : request.headers) {
    list = curl_slist_append(list, absl::StrCat(name, ": ", value).c_str());
  }
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(list, curl_slist_free_all);
  ClientResponse response;
  CURL* h = c.get();
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);  // else libcurl waits for a body
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  Body body{&response.body, request.max_body};
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    const std::string what =
        absl::StrCat(request.method, " ", UrlOrigin(request.url), ": ", curl_easy_strerror(rc));
    if (rc == CURLE_OPERATION_TIMEDOUT) return absl::DeadlineExceededError(what);
    if (rc == CURLE_WRITE_ERROR) {
      return absl::ResourceExhaustedError(
          absl::StrCat(what, " (the answer is larger than ", request.max_body, " bytes)"));
    }
    return absl::UnavailableError(what);
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace hut::http
