#include "src/alerting/alertmanager_api.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/common/log.h"
#include "src/http/url_client.h"

namespace hut::alerting {
namespace {

using json = nlohmann::json;

absl::StatusOr<http::ClientResponse> Post(const std::string& base, const std::string& path,
                                          const json& body) {
  http::UrlRequest r;
  r.url = absl::StrCat(base, path);
  r.body = body.dump();
  r.timeout = std::chrono::seconds(5);
  r.headers.emplace("Content-Type", "application/json");
  absl::StatusOr<http::ClientResponse> answer = http::FetchUrl(r);
  if (!answer.ok()) {
    return absl::UnavailableError(
        absl::StrCat("Alertmanager at ", base, ": ", answer.status().message()));
  }
  if (answer->status == 400) {
    return absl::InvalidArgumentError(absl::StrCat("Alertmanager refused it: ", answer->body));
  }
  if (answer->status / 100 != 2) {
    return absl::UnavailableError(
        absl::StrCat("Alertmanager at ", base, " answered ", answer->status, ": ", answer->body));
  }
  return answer;
}

}  // namespace

absl::StatusOr<Matcher> ParseMatcher(const std::string& text) {
  Matcher m;
  size_t at = text.find("!=");
  size_t skip = 2;
  if (at == std::string::npos) {
    at = text.find('=');
    skip = 1;
  } else {
    m.equal = false;
  }
  if (at == std::string::npos || at == 0 || at + skip >= text.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "matcher \"", text, "\" is not NAME=VALUE or NAME!=VALUE (e.g. service=backend)"));
  }
  m.name = text.substr(0, at);
  m.value = text.substr(at + skip);
  return m;
}

absl::StatusOr<std::string> CreateSilence(const std::string& url, const SilenceRequest& s) {
  if (s.matchers.empty()) return absl::InvalidArgumentError("a silence needs a matcher");
  if (s.ends_at <= s.starts_at) return absl::InvalidArgumentError("a silence must end after it starts");
  if (s.created_by.empty() || s.comment.empty()) {
    return absl::InvalidArgumentError("a silence needs who creates it and a comment");
  }
  json matchers = json::array();
  for (const Matcher& m : s.matchers) {
    matchers.push_back({{"name", m.name}, {"value", m.value}, {"isRegex", false},
                        {"isEqual", m.equal}});
  }
  const json body = {{"matchers", matchers},
                     {"startsAt", FormatTimestamp(s.starts_at)},
                     {"endsAt", FormatTimestamp(s.ends_at)},
                     {"createdBy", s.created_by},
                     {"comment", s.comment}};
  absl::StatusOr<http::ClientResponse> answer = Post(url, "/api/v2/silences", body);
  if (!answer.ok()) return answer.status();
  const json parsed = json::parse(answer->body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("silenceID") || !parsed["silenceID"].is_string()) {
    return absl::UnavailableError(absl::StrCat("Alertmanager's answer has no silenceID: ", answer->body));
  }
  return parsed["silenceID"].get<std::string>();
}

absl::Status PostAlert(const std::string& url, const Labels& labels, const Labels& annotations,
                       TimePoint starts_at, TimePoint ends_at) {
  const json body = json::array({{{"labels", labels},
                                  {"annotations", annotations},
                                  {"startsAt", FormatTimestamp(starts_at)},
                                  {"endsAt", FormatTimestamp(ends_at)},
                                  {"generatorURL", "hut://alerts/test"}}});
  return Post(url, "/api/v2/alerts", body).status();
}

}  // namespace hut::alerting
