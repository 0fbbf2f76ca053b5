#include "src/kubernetes/config_sync.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/common/base64.h"

namespace hut::kubernetes {

using nlohmann::json;

absl::StatusOr<std::vector<SyncedObject>> DesiredObjects(
    const ObjectContext& ctx,
    const std::function<absl::StatusOr<Secret>(const std::string& secret)>& current) {
  std::vector<SyncedObject> out;
  for (const SecretObjectName& s : kSecretObjects) {
    SyncedObject o{.kind = SyncedObject::Kind::kSecret, .name = std::string(s.name), .data = {}};
    absl::StatusOr<Secret> value = current(std::string(s.secret));
    if (!value.ok() && value.status().code() != absl::StatusCode::kNotFound) {
      return absl::Status(value.status().code(),
                          absl::StrCat("secret ", std::string(s.secret), ": ", value.status().message()));
    }
    if (value.ok()) {
      o.data[std::string(s.file)] = *value;
      json fields = json::parse(value->Reveal(), nullptr, false);
      if (s.secret == "database" && fields.is_object()) {  // pragma: allowlist secret (a secret's name)
        for (const char* k : {"username", "password"}) {
          if (fields[k].is_string()) o.data[k] = Secret(fields[k].get<std::string>());
        }
      } else if (s.secret == "third-party-api-keys" && fields.is_object()) {  // pragma: allowlist secret (a secret's name)
        for (const auto& [k, v] : fields.items()) {
          if (v.is_string()) o.data[k] = Secret(v.get<std::string>());
        }
      }
      if (fields.is_object()) {
        for (auto& [k, v] : fields.items()) {
          if (v.is_string()) WipeString(v.get_ref<std::string&>());
        }
      }
    }
    out.push_back(std::move(o));
  }
  SyncedObject config{.kind = SyncedObject::Kind::kConfigMap, .name = ConfigMapName(ctx), .data = {}};
  for (const auto& [k, v] : ConfigMapData(ctx)) config.data[k] = Secret(v);
  out.push_back(std::move(config));
  return out;
}

absl::StatusOr<std::vector<SyncChange>> ConfigSync::Reconcile(
    const std::vector<SyncedObject>& desired) {
  std::vector<SyncChange> changes;
  std::vector<std::string> errors;
  for (const SyncedObject& o : desired) {
    absl::StatusOr<std::optional<SyncChange>> c = One(o);
    if (!c.ok()) {
      errors.push_back(std::string(c.status().message()));
    } else if (*c) {
      changes.push_back(**c);
    }
  }
  if (!errors.empty()) return absl::UnavailableError(absl::StrJoin(errors, "; "));
  return changes;
}

absl::StatusOr<std::optional<SyncChange>> ConfigSync::One(const SyncedObject& o) {
  const bool secret = o.kind == SyncedObject::Kind::kSecret;
  const std::string kind = secret ? "Secret" : "ConfigMap";
  const std::string label = absl::StrCat(kind, "/", o.name);
  const std::string path = ObjectPath("/api/v1", ns_, secret ? "secrets" : "configmaps", o.name);
  // The data as the API carries it: a Secret's base64.
  json data = json::object();
  for (const auto& [k, v] : o.data) data[k] = secret ? Base64Encode(v.Reveal()) : v.Reveal();

  absl::StatusOr<json> live = api_.Get(path);
  if (!live.ok() && live.status().code() != absl::StatusCode::kNotFound) {
    return absl::Status(live.status().code(),
                        absl::StrCat("reading ", label, ": ", live.status().message()));
  }
  SyncChange change{.object = label, .created = false, .what = ""};
  const bool seen = seen_.contains(label);
  if (live.ok()) {
    seen_.insert(label);
    const json& now = (*live)["data"].is_object() ? (*live)["data"] : json::object();
    std::set<std::string> edited;
    for (const auto& [k, v] : data.items()) {
      if (!now.contains(k) || now[k] != v) edited.insert(k);
    }
    for (const auto& [k, v] : now.items()) {
      if (!data.contains(k)) edited.insert(k);
    }
    if (edited.empty()) return std::nullopt;
    change.what = absl::StrCat("keys edited by hand: ", absl::StrJoin(edited, ", "), "; put back");
    // A merge patch replaces what hut sets and drops keys it does not:
    // whoever else wrote them.
    json patch = data;
    for (const auto& [k, v] : now.items()) {
      if (!data.contains(k)) patch[k] = nullptr;
    }
    absl::StatusOr<json> put = api_.MergePatch(path, {{"data", patch}});
    if (!put.ok()) {
      return absl::Status(put.status().code(),
                          absl::StrCat("putting back ", label, ": ", put.status().message()));
    }
    return change;
  }
  json object = {{"apiVersion", "v1"},
                 {"kind", kind},
                 {"metadata", {{"name", o.name}, {"namespace", ns_}, {"labels", labels_}}},
                 {"data", data}};
  if (secret) object["type"] = "Opaque";
  absl::StatusOr<json> made = api_.Apply(path, object);
  if (!made.ok()) {
    return absl::Status(made.status().code(),
                        absl::StrCat("creating ", label, ": ", made.status().message()));
  }
  seen_.insert(label);
  change.created = !seen;
  change.what = seen ? "deleted by hand; made again" : "created";
  return change;
}

}  // namespace hut::kubernetes
