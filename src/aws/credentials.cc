#include "src/aws/credentials.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pugixml.hpp"
#include "src/http/message.h"
#include "src/http/url_client.h"

namespace hut::aws {
namespace {

class Fixed final : public CredentialsProvider {
 public:
  explicit Fixed(Credentials c) : c_(std::move(c)) {}
  absl::StatusOr<Credentials> Get() override { return c_; }

 private:
  const Credentials c_;
};

}  // namespace

std::shared_ptr<CredentialsProvider> StaticCredentials(Credentials credentials) {
  return std::make_shared<Fixed>(std::move(credentials));
}

absl::StatusOr<Credentials> WebIdentityCredentials::Get() {
  absl::MutexLock lock(&mu_);
  if (current_ && o_.now() < expires_ - o_.refresh_before) return *current_;
  const std::string what = absl::StrCat("STS AssumeRoleWithWebIdentity ", o_.role_arn);
  std::ifstream in(o_.token_file);
  if (!in) return absl::FailedPreconditionError(absl::StrCat(what, ": cannot read ", o_.token_file));
  std::stringstream text;
  text << in.rdbuf();
  Secret token(std::string(absl::StripAsciiWhitespace(text.str())));
  if (token.empty()) return absl::FailedPreconditionError(absl::StrCat(what, ": ", o_.token_file, " is empty"));
  http::UrlRequest r;
  r.method = "POST";
  r.url = o_.sts_endpoint + "/";
  r.headers.emplace("content-type", "application/x-www-form-urlencoded");
  r.body = absl::StrCat("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=",
                        http::PercentEncode(o_.role_arn, false),
                        "&RoleSessionName=", http::PercentEncode(o_.session_name, false),
                        "&WebIdentityToken=", http::PercentEncode(token.Reveal(), false));
  absl::StatusOr<http::ClientResponse> answer = http::FetchUrl(r);
  WipeString(r.body);
  if (!answer.ok()) return answer.status();
  pugi::xml_document xml;
  const bool parsed = xml.load_buffer(answer->body.data(), answer->body.size());
  const pugi::xml_node c = xml.child("AssumeRoleWithWebIdentityResponse")
                               .child("AssumeRoleWithWebIdentityResult")
                               .child("Credentials");
  if (answer->status != 200 || !parsed || !c) {
    const pugi::xml_node e = xml.child("ErrorResponse").child("Error");
    return absl::PermissionDeniedError(absl::StrCat(
        what, ": ", e ? absl::StrCat(e.child_value("Code"), ": ", e.child_value("Message"))
                      : absl::StrCat("HTTP ", answer->status), " (HTTP ", answer->status, ")"));
  }
  Credentials fresh{.access_key_id = c.child_value("AccessKeyId"),
                    .secret_access_key = Secret(c.child_value("SecretAccessKey")),
                    .session_token = c.child_value("SessionToken")};
  absl::Time expires;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, c.child_value("Expiration"), &expires, &error)) {
    expires = o_.now() + absl::Minutes(15);  // STS's shortest session
  }
  if (fresh.access_key_id.empty() || fresh.secret_access_key.empty()) {
    return absl::DataLossError(absl::StrCat(what, ": the answer holds no credentials"));
  }
  current_ = fresh;
  expires_ = expires;
  return fresh;
}

}  // namespace hut::aws
