#include "src/alerting/notifier.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/common/resources.h"
#include "src/common/secret.h"
#include "src/http/url_client.h"

namespace hut::alerting {
namespace {

constexpr size_t kMaxSecret = 4096;
constexpr size_t kMaxDetail = 300;

std::string Short(std::string s) {
  if (s.size() > kMaxDetail) s = s.substr(0, kMaxDetail) + "...";
  return s;
}

// The secret in `path`, trimmed of surrounding white space.
absl::StatusOr<Secret> ReadSecretFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileCapped(path, kMaxSecret);
  if (!text.ok()) return text.status();
  std::string value(absl::StripAsciiWhitespace(*text));
  if (value.empty()) return absl::FailedPreconditionError(absl::StrCat(path, " is empty"));
  return Secret(std::move(value));
}

Delivery PostJson(const std::string& url, const std::string& body,
                  std::chrono::milliseconds timeout, const std::string& shown_as) {
  http::UrlRequest request;
  request.url = url;
  request.body = body;
  request.timeout = timeout;
  request.headers.emplace("Content-Type", "application/json");
  request.headers.emplace("User-Agent", "hut");
  absl::StatusOr<http::ClientResponse> response = http::FetchUrl(request);
  if (!response.ok()) {
    // FetchUrl names the URL without its path; the Slack path is the secret.
    return {Delivery::Outcome::kRetry, absl::StrCat(shown_as, ": ", response.status().message()),
            std::nullopt};
  }
  return ClassifyHttpAnswer(response->status, response->body, response->Header("Retry-After"));
}

}  // namespace

Delivery ClassifyHttpAnswer(int status, const std::string& body,
                            const std::optional<std::string>& retry_after) {
  Delivery d;
  d.detail = Short(absl::StrCat(status, body.empty() ? "" : " ", body));
  if (status >= 200 && status < 300) {
    d.outcome = Delivery::Outcome::kDelivered;
  } else if (status == 408 || status == 429 || status >= 500) {
    d.outcome = Delivery::Outcome::kRetry;
    int64_t seconds = 0;
    if (retry_after && absl::SimpleAtoi(*retry_after, &seconds) && seconds >= 0) {
      d.retry_after = std::chrono::seconds(std::min<int64_t>(seconds, 3600));
    }
  } else {
    d.outcome = Delivery::Outcome::kRefused;
  }
  return d;
}

Delivery PagerDutyNotifier::Send(const store::Notification& n) {
  auto file = options_.routing_key_files.find(n.recipient);
  if (file == options_.routing_key_files.end()) {
    return {Delivery::Outcome::kRefused,
            absl::StrCat("no PagerDuty routing key for recipient \"", n.recipient, "\""),
            std::nullopt};
  }
  absl::StatusOr<Secret> key = ReadSecretFile(file->second);
  if (!key.ok()) {
    return {Delivery::Outcome::kRetry,
            absl::StrCat("PagerDuty routing key: ", key.status().message()), std::nullopt};
  }
  nlohmann::json body = n.message;
  body["routing_key"] = key->Reveal();  // the outbox never holds it
  return PostJson(options_.events_url, body.dump(), options_.timeout,
                  absl::StrCat("PagerDuty ", http::UrlOrigin(options_.events_url)));
}

Delivery SlackNotifier::Send(const store::Notification& n) {
  std::string url = options_.webhook_url;
  if (url.empty()) {
    absl::StatusOr<Secret> secret = ReadSecretFile(options_.webhook_url_file);
    if (!secret.ok()) {
      return {Delivery::Outcome::kRetry,
              absl::StrCat("Slack webhook URL: ", secret.status().message()), std::nullopt};
    }
    url = secret->Reveal();
  }
  return PostJson(url, n.message.dump(), options_.timeout,
                  absl::StrCat("Slack ", http::UrlOrigin(url)));
}

}  // namespace hut::alerting
