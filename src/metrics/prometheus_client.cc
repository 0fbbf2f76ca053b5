#include "src/metrics/prometheus_client.h"

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/http/client.h"

namespace hut::metrics {
namespace {

using json = nlohmann::json;

std::string UrlEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

}  // namespace

std::string PromQuoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

absl::StatusOr<PrometheusClient> PrometheusClient::Create(const std::string& url,
                                                          std::chrono::milliseconds timeout) {
  PrometheusClient c;
  c.url_ = url;
  c.timeout_ = timeout;
  std::string rest = url;
  if (!rest.starts_with("http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("Prometheus URL ", PromQuoted(url), " is not http://HOST:PORT"));
  }
  rest = rest.substr(7);
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  c.prefix_ = slash == std::string::npos ? "" : rest.substr(slash);
  while (!c.prefix_.empty() && c.prefix_.back() == '/') c.prefix_.pop_back();
  const size_t colon = authority.rfind(':');
  int port = 80;
  if (colon != std::string::npos) {
    if (!absl::SimpleAtoi(authority.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("Prometheus URL ", PromQuoted(url), ": bad port"));
    }
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("Prometheus URL ", PromQuoted(url),
                                                   " has no host"));
  }
  c.host_ = authority;
  c.port_ = static_cast<uint16_t>(port);
  return c;
}

absl::StatusOr<std::vector<QuerySample>> PrometheusClient::Query(const std::string& promql) const {
  http::ClientRequest req;
  req.host = host_;
  req.port = port_;
  req.target = absl::StrCat(prefix_, "/api/v1/query?query=", UrlEscape(promql));
  req.timeout = timeout_;
  absl::StatusOr<http::ClientResponse> r = http::Fetch(req);
  if (!r.ok()) {
    return absl::UnavailableError(
        absl::StrCat("Prometheus at ", host_, ":", port_, ": ", r.status().message()));
  }
  json body = json::parse(r->body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return absl::UnavailableError(absl::StrCat("Prometheus at ", host_, ":", port_, " answered ",
                                               r->status, " without JSON"));
  }
  if (r->status != 200 || body.value("status", "") != "success") {
    return absl::UnavailableError(absl::StrCat("Prometheus at ", host_, ":", port_, ": ",
                                               body.value("errorType", "error"), ": ",
                                               body.value("error", std::to_string(r->status))));
  }
  std::vector<QuerySample> samples;
  const json& result = body["data"]["result"];
  if (!result.is_array()) return samples;
  for (const json& item : result) {
    const json& m = item.value("metric", json::object());
    const json& v = item.value("value", json::array());
    if (!v.is_array() || v.size() != 2 || !v[1].is_string()) continue;
    QuerySample s;
    for (const auto& [k, label] : m.items()) {
      if (label.is_string()) s.labels[k] = label.get<std::string>();
    }
    s.value = v[1].get<std::string>();
    samples.push_back(std::move(s));
  }
  return samples;
}

}  // namespace hut::metrics
