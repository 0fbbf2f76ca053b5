#include "src/kubernetes/api_client.h"

#include <curl/curl.h>

#include <cctype>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/common/resources.h"
#include "src/http/url_client.h"

namespace hut::kubernetes {
namespace {

constexpr size_t kMaxBody = 64 << 20;  // a LIST of thousands of pods fits

absl::StatusCode CodeFor(int http, const nlohmann::json& body) {
  switch (http) {
    case 400:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return body.is_object() && body.value("reason", "") == "AlreadyExists"
                 ? absl::StatusCode::kAlreadyExists
                 : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    default:
      return http == 429 || http >= 500 ? absl::StatusCode::kUnavailable
                                        : absl::StatusCode::kUnknown;
  }
}

// The API's Status message, or the body's start when it is not one.
std::string MessageOf(const nlohmann::json& body, const std::string& raw) {
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    return body["message"].get<std::string>();
  }
  return raw.substr(0, 300);
}

}  // namespace

struct ApiClient::Handle {
  CURL* curl = nullptr;
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

// One request's state, reached from libcurl's callbacks.
struct ApiClient::Call {
  std::string method, path, body, content_type;
  std::string response;
};

ApiClient::ApiClient(ClusterAccess access, std::chrono::milliseconds timeout)
    : access_(std::move(access)), timeout_(timeout) {
  http::InitCurl();
}

ApiClient::~ApiClient() = default;

std::unique_ptr<ApiClient::Handle> ApiClient::Take() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  h->curl = curl_easy_init();
  return h;
}

void ApiClient::Give(std::unique_ptr<Handle> handle) {
  absl::MutexLock lock(&mu_);
  if (idle_.size() < 8) idle_.push_back(std::move(handle));
}

std::string ApiClient::Token() const {
  if (!access_.token_file.empty()) {
    if (auto t = ReadFileCapped(access_.token_file, 64 << 10); t.ok()) {
      return std::string(absl::StripAsciiWhitespace(*t));
    }
  }
  return access_.token;
}

absl::Status ApiClient::Configure(Handle& h, Call& call) {
  CURL* c = h.curl;
  if (c == nullptr) return absl::ResourceExhaustedError("cannot create a libcurl handle");
  curl_easy_reset(c);
  const std::string url = access_.server + call.path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!access_.ca_pem.empty()) {
    curl_blob ca{const_cast<char*>(access_.ca_pem.data()), access_.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  }
  if (access_.insecure_skip_tls_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!access_.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(access_.client_cert_pem.data()),
                   access_.client_cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(access_.client_key_pem.data()), access_.client_key_pem.size(),
                  CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
  }
  if (!call.body.empty() || call.method == "POST" || call.method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, call.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(call.body.size()));
  }
  return absl::OkStatus();
}

namespace {

size_t CollectBody(char* data, size_t size, size_t n, void* user) {
  auto* call = static_cast<std::string*>(user);
  if (call->size() + size * n > kMaxBody) return 0;
  call->append(data, size * n);
  return size * n;
}

struct WatchState {
  std::string line;
  const std::function<bool(const nlohmann::json&)>* on_event = nullptr;
  const std::atomic<bool>* stop = nullptr;
  bool stopped = false;
  std::string parse_error;
  std::string error_body;  // a non-2xx answer's body
  long http = 0;
  CURL* curl = nullptr;
};

size_t StreamBody(char* data, size_t size, size_t n, void* user) {
  auto* w = static_cast<WatchState*>(user);
  const size_t len = size * n;
  if (w->http == 0) curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &w->http);
  if (w->http / 100 != 2) {
    if (w->error_body.size() < (1 << 20)) w->error_body.append(data, len);
    return len;
  }
  for (size_t i = 0; i < len; ++i) {
    if (data[i] != '\n') {
      w->line.push_back(data[i]);
      if (w->line.size() > kMaxBody) {
        w->parse_error = "a watch event over 64 MiB";
        return 0;
      }
      continue;
    }
    if (w->line.empty()) continue;
    nlohmann::json event = nlohmann::json::parse(w->line, nullptr, false);
    w->line.clear();
    if (event.is_discarded() || !event.is_object()) {
      w->parse_error = "a watch event that is not JSON";
      return 0;
    }
    if (!(*w->on_event)(event)) {
      w->stopped = true;
      return 0;
    }
  }
  return len;
}

int CheckStop(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* w = static_cast<WatchState*>(user);
  if (w->stop->load()) {
    w->stopped = true;
    return 1;
  }
  return 0;
}

}  // namespace

absl::StatusOr<nlohmann::json> ApiClient::Send(const std::string& method, const std::string& path,
                                               const std::string& body,
                                               const std::string& content_type) {
  const bool read = method == "GET";
  (read ? reads_ : writes_).fetch_add(1);
  Call call{method, path, body, content_type, ""};
  auto handle = Take();
  if (absl::Status s = Configure(*handle, call); !s.ok()) {
    errors_.fetch_add(1);
    return s;
  }
  CURL* c = handle->curl;
  curl_slist* headers = nullptr;
  const std::string auth = absl::StrCat("Authorization: Bearer ", Token());
  if (auth.size() > 22) headers = curl_slist_append(headers, auth.c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  const std::string type = absl::StrCat("Content-Type: ", content_type);
  if (!content_type.empty()) headers = curl_slist_append(headers, type.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &call.response);
  const CURLcode rc = curl_easy_perform(c);
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  Give(std::move(handle));
  const std::string what = absl::StrCat(method, " ", access_.server, path);
  if (rc != CURLE_OK) {
    errors_.fetch_add(1);
    return absl::UnavailableError(absl::StrCat(what, ": ", curl_easy_strerror(rc)));
  }
  nlohmann::json parsed = nlohmann::json::parse(call.response, nullptr, false);
  if (http / 100 != 2) {
    errors_.fetch_add(1);
    return absl::Status(CodeFor(static_cast<int>(http), parsed),
                        absl::StrCat(what, ": HTTP ", http, ": ", MessageOf(parsed, call.response)));
  }
  if (parsed.is_discarded()) {
    errors_.fetch_add(1);
    return absl::InternalError(absl::StrCat(what, ": the answer is not JSON"));
  }
  return parsed;
}

absl::StatusOr<nlohmann::json> ApiClient::Get(const std::string& path) {
  return Send("GET", path, "", "");
}

absl::StatusOr<nlohmann::json> ApiClient::Apply(const std::string& path,
                                                const nlohmann::json& object, bool force) {
  const std::string query = absl::StrCat(path, path.find('?') == std::string::npos ? "?" : "&",
                                         "fieldManager=", kFieldManager, force ? "&force=true" : "");
  return Send("PATCH", query, object.dump(), "application/apply-patch+yaml");
}

absl::StatusOr<nlohmann::json> ApiClient::Post(const std::string& path,
                                               const nlohmann::json& object) {
  return Send("POST", absl::StrCat(path, "?fieldManager=", kFieldManager), object.dump(),
              "application/json");
}

absl::StatusOr<nlohmann::json> ApiClient::MergePatch(const std::string& path,
                                                     const nlohmann::json& patch) {
  return Send("PATCH", absl::StrCat(path, "?fieldManager=", kFieldManager), patch.dump(),
              "application/merge-patch+json");
}

absl::Status ApiClient::Delete(const std::string& path, std::string_view propagation) {
  const nlohmann::json options = {{"apiVersion", "v1"},
                                  {"kind", "DeleteOptions"},
                                  {"propagationPolicy", std::string(propagation)}};
  auto r = Send("DELETE", path, options.dump(), "application/json");
  if (!r.ok() && r.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
  return r.status();
}

absl::Status ApiClient::Watch(const std::string& path,
                              const std::function<bool(const nlohmann::json&)>& on_event,
                              const std::atomic<bool>& stop) {
  watches_.fetch_add(1);
  Call call{"GET", path, "", "", ""};
  auto handle = Take();
  if (absl::Status s = Configure(*handle, call); !s.ok()) return s;
  CURL* c = handle->curl;
  WatchState w;
  w.on_event = &on_event;
  w.stop = &stop;
  w.curl = c;
  curl_slist* headers = nullptr;
  const std::string auth = absl::StrCat("Authorization: Bearer ", Token());
  if (auth.size() > 22) headers = curl_slist_append(headers, auth.c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 0L);
  // A stream that sends nothing for 2 minutes is dead (bookmarks come about
  // once a minute).
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, StreamBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, CheckStop);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &w);
  const CURLcode rc = curl_easy_perform(c);
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  // A connection cut in the middle of a stream is not reused.
  if (rc == CURLE_OK) Give(std::move(handle));
  const std::string what = absl::StrCat("watch ", access_.server, path);
  if (w.stopped) return absl::OkStatus();
  if (!w.parse_error.empty()) {
    errors_.fetch_add(1);
    return absl::InternalError(absl::StrCat(what, ": ", w.parse_error));
  }
  if (http != 0 && http / 100 != 2) {
    errors_.fetch_add(1);
    nlohmann::json parsed = nlohmann::json::parse(w.error_body, nullptr, false);
    return absl::Status(CodeFor(static_cast<int>(http), parsed),
                        absl::StrCat(what, ": HTTP ", http, ": ", MessageOf(parsed, w.error_body)));
  }
  if (rc != CURLE_OK) {
    errors_.fetch_add(1);
    return absl::UnavailableError(absl::StrCat(what, ": ", curl_easy_strerror(rc)));
  }
  return absl::OkStatus();
}

RequestCounts ApiClient::counts() const {
  return {reads_.load(), writes_.load(), watches_.load(), errors_.load()};
}

std::string ObjectPath(std::string_view api, std::string_view ns, std::string_view plural,
                       std::string_view name) {
  std::string p(api);
  if (!ns.empty()) absl::StrAppend(&p, "/namespaces/", std::string(ns));
  absl::StrAppend(&p, "/", std::string(plural));
  if (!name.empty()) absl::StrAppend(&p, "/", std::string(name));
  return p;
}


}  // namespace hut::kubernetes
