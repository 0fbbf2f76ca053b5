#include "src/secrets/service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "src/common/status.h"

namespace hut::secrets {

absl::StatusOr<std::string> SecretsService::FullName(const std::string& name) const {
  bool ok = !name.empty() && name.size() <= 64 && name.front() != '-' && name.back() != '-';
  for (char c : name) ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-');
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", name, "\" is not a secret name (lowercase letters, digits and '-', e.g. ",
        kDatabaseSecret, ", ", kJwtSecret, ", ", kApiKeysSecret, ")"));
  }
  return SecretName(o_.project, o_.environment, name);
}

absl::StatusOr<std::vector<SecretInfo>> SecretsService::List() {
  const std::string prefix = SecretName(o_.project, o_.environment, "");
  HUT_ASSIGN_OR_RETURN(std::vector<std::string> names, o_.backend->List(prefix));
  std::vector<SecretInfo> out;
  for (const std::string& full : names) {
    absl::StatusOr<SecretInfo> info = o_.backend->Describe(full);
    if (info.status().code() == absl::StatusCode::kNotFound) continue;  // deleted meanwhile
    if (!info.ok()) return info.status();
    info->name = full.substr(prefix.size());
    out.push_back(*std::move(info));
  }
  return out;
}

absl::StatusOr<SecretInfo> SecretsService::Describe(const std::string& name) {
  HUT_ASSIGN_OR_RETURN(std::string full, FullName(name));
  HUT_ASSIGN_OR_RETURN(SecretInfo info, o_.backend->Describe(full));
  info.name = name;
  return info;
}

absl::StatusOr<SecretValue> SecretsService::Current(const std::string& name) {
  HUT_ASSIGN_OR_RETURN(std::string full, FullName(name));
  return o_.backend->Get(full, kCurrent, "");
}

absl::StatusOr<SecretValue> SecretsService::Reveal(const std::string& name, const std::string& by) {
  HUT_ASSIGN_OR_RETURN(SecretValue v, Current(name));
  HUT_RETURN_IF_ERROR(Record("secret.revealed",
                             absl::StrCat("secret ", name, " (version ", v.version_id,
                                          ") revealed to ", by),
                             {{"secret", name}, {"version", v.version_id}, {"by", by}}));
  return v;
}

absl::StatusOr<std::string> SecretsService::Set(const std::string& name, const Secret& value,
                                                const std::string& by) {
  HUT_ASSIGN_OR_RETURN(std::string full, FullName(name));
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat("secret ", name, ": empty value"));
  const std::string version = NewVersionId();
  HUT_RETURN_IF_ERROR(o_.backend->Put(full, version, value, {kCurrent}));
  HUT_RETURN_IF_ERROR(Record("secret.set",
                             absl::StrCat("secret ", name, " set by ", by, ": version ", version,
                                          " is current"),
                             {{"secret", name}, {"version", version}, {"by", by}}));
  return version;
}

absl::Status SecretsService::Record(const std::string& type, const std::string& message,
                                    nlohmann::json data) {
  if (o_.store == nullptr) return absl::OkStatus();
  store::Event e;
  e.at = o_.clock->Now();
  e.environment = o_.environment;
  e.type = type;
  e.message = message;
  e.data = std::move(data);
  return o_.store->AppendEvent(std::move(e)).status();
}

}  // namespace hut::secrets
