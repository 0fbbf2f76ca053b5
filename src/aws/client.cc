#include "src/aws/client.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "pugixml.hpp"
#include "src/common/status.h"
#include "src/http/message.h"
#include "src/http/url_client.h"

namespace hut::aws {

absl::StatusOr<AwsConfig> ConfigFromEnvironment(GetEnv getenv) {
  AwsConfig c;
  const auto get = [&](const std::string& name) { return getenv(name).value_or(""); };
  if (std::string r = get("AWS_REGION"); !r.empty()) {
    c.region = r;
  } else if (std::string d = get("AWS_DEFAULT_REGION"); !d.empty()) {
    c.region = d;
  }
  c.endpoint_url = get("AWS_ENDPOINT_URL");
  c.getenv = getenv;
  Credentials keys{.access_key_id = get("AWS_ACCESS_KEY_ID"),
                   .secret_access_key = Secret(get("AWS_SECRET_ACCESS_KEY")),
                   .session_token = get("AWS_SESSION_TOKEN")};
  if (!keys.access_key_id.empty() && !keys.secret_access_key.empty()) {
    c.credentials = StaticCredentials(std::move(keys));
    return c;
  }
  if (const std::string role = get("AWS_ROLE_ARN"), token = get("AWS_WEB_IDENTITY_TOKEN_FILE");
      !role.empty() && !token.empty()) {
    WebIdentityOptions w;
    w.sts_endpoint = EndpointFor(c, "STS", "sts");
    w.role_arn = role;
    w.token_file = token;
    if (std::string name = get("AWS_ROLE_SESSION_NAME"); !name.empty()) w.session_name = name;
    c.credentials = std::make_shared<WebIdentityCredentials>(std::move(w));
    return c;
  }
  return absl::FailedPreconditionError(
      "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
      "AWS_SESSION_TOKEN for temporary ones), or AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE "
      "(IRSA on EKS)");
}

std::string EndpointFor(const AwsConfig& config, const std::string& env_name,
                        const std::string& host_prefix) {
  std::string url;
  if (config.getenv) url = config.getenv("AWS_ENDPOINT_URL_" + env_name).value_or("");
  if (url.empty()) url = config.endpoint_url;
  if (url.empty()) return absl::StrCat("https://", host_prefix, ".", config.region, ".amazonaws.com");
  while (url.size() > 1 && url.back() == '/') url.pop_back();
  return url;
}

AwsClient::AwsClient(std::string endpoint, std::string region, std::string service,
                     std::shared_ptr<CredentialsProvider> credentials,
                     std::function<absl::Time()> now)
    : endpoint_(std::move(endpoint)),
      region_(std::move(region)),
      service_(std::move(service)),
      credentials_(std::move(credentials)),
      now_(std::move(now)) {
  const size_t scheme = endpoint_.find("://");
  host_ = scheme == std::string::npos ? endpoint_ : endpoint_.substr(scheme + 3);
  host_ = host_.substr(0, host_.find('/'));
}

absl::StatusOr<http::ClientResponse> AwsClient::Send(const AwsRequest& request) const {
  CanonicalInput in;
  in.method = request.method;
  in.path = request.path.empty() ? "/" : request.path;
  in.query = request.query;
  for (const auto& [name, value] : request.headers) in.headers[absl::AsciiStrToLower(name)] = value;
  in.headers["host"] = host_;
  in.payload_sha256 = Sha256Hex(request.body);
  if (service_ == "s3") in.headers["x-amz-content-sha256"] = in.payload_sha256;
  HUT_ASSIGN_OR_RETURN(const Credentials credentials, credentials_->Get());
  const std::string authorization = Sign(in, credentials, region_, service_, now_());

  http::UrlRequest out;
  out.method = request.method;
  out.url = endpoint_ + in.path;
  std::string query;
  for (const auto& [name, value] : request.query) {
    absl::StrAppend(&query, query.empty() ? "?" : "&", http::PercentEncode(name, false), "=",
                    http::PercentEncode(value, false));
  }
  out.url += query;
  for (const auto& [name, value] : in.headers) {
    if (name != "host") out.headers.emplace(name, value);  // libcurl sends the URL's
  }
  out.headers.emplace("authorization", authorization);
  out.body = request.body;
  out.timeout = request.timeout;
  out.max_body = request.max_body;
  return http::FetchUrl(out);
}

absl::Status ErrorStatus(const http::ClientResponse& response, const std::string& what) {
  std::string code, message;
  pugi::xml_document xml;
  if (xml.load_buffer(response.body.data(), response.body.size())) {
    pugi::xml_node error = xml.child("Error");
    if (!error) error = xml.first_child().child("Error");  // <ErrorResponse><Error>: the query APIs
    code = error.child_value("Code");
    message = error.child_value("Message");
  }
  if (code.empty()) {
    const nlohmann::json j = nlohmann::json::parse(response.body, nullptr, false);
    if (j.is_object()) {
      code = j.value("__type", "");
      if (const size_t hash = code.rfind('#'); hash != std::string::npos) code = code.substr(hash + 1);
      message = j.contains("message") ? j.value("message", "") : j.value("Message", "");
    }
  }
  if (code.empty()) code = absl::StrCat("HTTP ", response.status);
  const std::string text = absl::StrCat(what, ": ", code, message.empty() ? "" : ": ", message,
                                        " (HTTP ", response.status, ")");
  const int s = response.status;
  if (s == 404 || absl::StartsWith(code, "NoSuch") || absl::EndsWith(code, "NotFoundException") ||
      absl::EndsWith(code, "NotFound")) {
    return absl::NotFoundError(text);
  }
  if (s == 401 || s == 403) return absl::PermissionDeniedError(text);
  if (s == 408 || s == 429 || s >= 500 || absl::StrContains(code, "Throttl") ||
      code == "SlowDown" || code == "RequestTimeout") {
    return absl::UnavailableError(text);
  }
  if (s == 409 || absl::StrContains(code, "Conflict") || code == "InvalidRequestException" ||
      code == "ResourceExistsException") {
    return absl::FailedPreconditionError(text);
  }
  return absl::InvalidArgumentError(text);
}

}  // namespace hut::aws
