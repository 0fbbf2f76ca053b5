#include "src/secrets/aws_backend.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/common/status.h"

namespace hut::secrets {
namespace {

std::string ToAws(const std::string& stage) {
  if (stage == kCurrent) return "AWSCURRENT";
  if (stage == kPrevious) return "AWSPREVIOUS";
  if (stage == kPending) return "AWSPENDING";
  return stage;
}

std::string FromAws(const std::string& stage) {
  if (stage == "AWSCURRENT") return kCurrent;
  if (stage == "AWSPREVIOUS") return kPrevious;
  if (stage == "AWSPENDING") return kPending;
  return stage;
}

std::string StringOr(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::vector<std::string> StagesOf(const nlohmann::json& list) {
  std::vector<std::string> out;
  if (list.is_array()) {
    for (const nlohmann::json& s : list) {
      if (s.is_string()) out.push_back(FromAws(s));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

AwsSecretsManagerBackend::AwsSecretsManagerBackend(const aws::AwsConfig& config)
    : client_(aws::EndpointFor(config, "SECRETS_MANAGER", "secretsmanager"), config.region,
              "secretsmanager", config.credentials) {}

absl::StatusOr<nlohmann::json> AwsSecretsManagerBackend::Call(const std::string& operation,
                                                              const nlohmann::json& request,
                                                              const std::string& about) const {
  aws::AwsRequest r;
  r.method = "POST";
  r.headers.emplace("x-amz-target", "secretsmanager." + operation);
  r.headers.emplace("content-type", "application/x-amz-json-1.1");
  r.body = request.dump();
  absl::StatusOr<http::ClientResponse> answer = client_.Send(r);
  WipeString(r.body);
  if (!answer.ok()) return answer.status();
  const std::string what = absl::StrCat("Secrets Manager ", operation, " ", about);
  if (answer->status != 200) return aws::ErrorStatus(*answer, what);
  nlohmann::json j = nlohmann::json::parse(answer->body, nullptr, false);
  if (!j.is_object()) return absl::DataLossError(absl::StrCat(what, ": the answer is not JSON"));
  return j;
}

absl::Status AwsSecretsManagerBackend::Put(const std::string& name, const std::string& version_id,
                                           const Secret& value,
                                           const std::vector<std::string>& stages) {
  nlohmann::json put = {{"SecretId", name},
                        {"ClientRequestToken", version_id},
                        {"SecretString", value.Reveal()},
                        {"VersionStages", nlohmann::json::array()}};
  for (const std::string& s : stages) put["VersionStages"].push_back(ToAws(s));
  absl::StatusOr<nlohmann::json> done = Call("PutSecretValue", put, name);
  if (done.status().code() == absl::StatusCode::kNotFound) {
    // A new secret: created without a value, so that the version gets the
    // stages asked for (CreateSecret's value would be AWSCURRENT).
    HUT_RETURN_IF_ERROR(Call("CreateSecret", {{"Name", name}}, name).status());
    done = Call("PutSecretValue", put, name);
  }
  WipeString(put["SecretString"].get_ref<std::string&>());
  return done.status();
}

absl::StatusOr<SecretValue> AwsSecretsManagerBackend::Get(const std::string& name,
                                                          const std::string& stage,
                                                          const std::string& version_id) {
  nlohmann::json get = {{"SecretId", name}};
  if (version_id.empty()) {
    get["VersionStage"] = ToAws(stage);
  } else {
    get["VersionId"] = version_id;
  }
  HUT_ASSIGN_OR_RETURN(nlohmann::json j, Call("GetSecretValue", get, name));
  if (!j["SecretString"].is_string()) {
    return absl::DataLossError(absl::StrCat("Secrets Manager GetSecretValue ", name,
                                            ": no SecretString (hut stores text)"));
  }
  SecretValue out{.version_id = StringOr(j, "VersionId"),
                  .value = Secret(j["SecretString"].get<std::string>()),
                  .stages = StagesOf(j["VersionStages"])};
  WipeString(j["SecretString"].get_ref<std::string&>());
  return out;
}

absl::Status AwsSecretsManagerBackend::MoveStage(const std::string& name, const std::string& stage,
                                                 const std::string& to) {
  HUT_ASSIGN_OR_RETURN(SecretInfo info, Describe(name));
  std::string from;
  for (const VersionInfo& v : info.versions) {
    if (std::find(v.stages.begin(), v.stages.end(), stage) != v.stages.end()) from = v.id;
  }
  if (from == to) return absl::OkStatus();
  nlohmann::json update = {{"SecretId", name}, {"VersionStage", ToAws(stage)}};
  if (!to.empty()) update["MoveToVersionId"] = to;
  if (!from.empty()) update["RemoveFromVersionId"] = from;
  if (to.empty() && from.empty()) return absl::OkStatus();
  return Call("UpdateSecretVersionStage", update, name).status();
}

absl::StatusOr<SecretInfo> AwsSecretsManagerBackend::Describe(const std::string& name) {
  // DescribeSecret first: a clear NotFound for a missing secret (moto 5.1
  // fails ListSecretVersionIds on one with a 500).
  HUT_RETURN_IF_ERROR(Call("DescribeSecret", {{"SecretId", name}}, name).status());
  SecretInfo info{.name = name, .versions = {}};
  std::string token;
  do {
    nlohmann::json list = {{"SecretId", name}, {"IncludeDeprecated", true}, {"MaxResults", 100}};
    if (!token.empty()) list["NextToken"] = token;
    HUT_ASSIGN_OR_RETURN(nlohmann::json j, Call("ListSecretVersionIds", list, name));
    if (j["Versions"].is_array()) {
      for (const nlohmann::json& v : j["Versions"]) {
        VersionInfo version{.id = StringOr(v, "VersionId"), .stages = StagesOf(v["VersionStages"]),
                            .created = {}};
        if (v["CreatedDate"].is_number()) {
          version.created = TimePoint(std::chrono::duration_cast<TimePoint::duration>(
              std::chrono::duration<double>(v["CreatedDate"].get<double>())));
        }
        info.versions.push_back(std::move(version));
      }
    }
    token = j["NextToken"].is_string() ? j["NextToken"].get<std::string>() : "";
  } while (!token.empty());
  std::sort(info.versions.begin(), info.versions.end(),
            [](const VersionInfo& a, const VersionInfo& b) { return a.created < b.created; });
  return info;
}

absl::StatusOr<std::vector<std::string>> AwsSecretsManagerBackend::List(const std::string& prefix) {
  std::vector<std::string> names;
  std::string token;
  do {
    nlohmann::json list = {{"MaxResults", 100}};
    if (!token.empty()) list["NextToken"] = token;
    HUT_ASSIGN_OR_RETURN(nlohmann::json j, Call("ListSecrets", list, "(all)"));
    if (j["SecretList"].is_array()) {
      for (const nlohmann::json& s : j["SecretList"]) {
        const std::string name = StringOr(s, "Name");
        if (absl::StartsWith(name, prefix)) names.push_back(name);
      }
    }
    token = j["NextToken"].is_string() ? j["NextToken"].get<std::string>() : "";
  } while (!token.empty());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace hut::secrets
