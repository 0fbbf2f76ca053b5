#include "apps/foohut-api/db_login.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/common/resources.h"
#include "src/http/message.h"

namespace hut::foohut {

absl::StatusOr<DatabaseLogin> ParseDatabaseLogin(const Secret& json) {
  nlohmann::json j = nlohmann::json::parse(json.Reveal(), nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  for (const char* field : {"username", "password"}) {
    if (!j.contains(field) || !j[field].is_string() || j[field].get_ref<const std::string&>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("\"", field, "\" missing or not a string"));
    }
  }
  DatabaseLogin login{.username = j["username"], .password = Secret(j["password"])};
  WipeString(j["password"].get_ref<std::string&>());
  return login;
}

absl::StatusOr<DatabaseLogin> LoadDatabaseLogin(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileCapped(path, 64 * 1024);
  if (!text.ok()) return text.status();
  const Secret content(*std::move(text));
  absl::StatusOr<DatabaseLogin> login = ParseDatabaseLogin(content);
  if (!login.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", login.status().message()));
  return login;
}

Secret WithLogin(const Secret& url, const DatabaseLogin& login) {
  const std::string& u = url.Reveal();
  std::string out = u;
  absl::StrAppend(&out, u.find('?') == std::string::npos ? "?" : "&",
                  "user=", http::PercentEncode(login.username, false),
                  "&password=", http::PercentEncode(login.password.Reveal(), false));
  return Secret(std::move(out));
}

}  // namespace hut::foohut
