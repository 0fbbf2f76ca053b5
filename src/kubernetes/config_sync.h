#ifndef HUT_KUBERNETES_CONFIG_SYNC_H_
#define HUT_KUBERNETES_CONFIG_SYNC_H_

// What External Secrets Operator does, done by hut: the environment's secrets
// as Kubernetes Secrets with ADR-009's names, and its non-sensitive
// configuration as a ConfigMap, in the environment's namespace, labelled
// managed-by hut. Each reconcile reads every object back: one deleted is
// made again, one whose data was edited by hand (a key changed, added or
// removed) is put back, and each is reported, naming keys, never values.

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/secret.h"
#include "src/kubernetes/api_client.h"
#include "src/kubernetes/objects.h"

namespace hut::kubernetes {

struct SyncedObject {
  enum class Kind { kSecret, kConfigMap };
  Kind kind = Kind::kSecret;
  std::string name;
  std::map<std::string, Secret> data;  // key -> value (a ConfigMap's are not secret)
};

struct SyncChange {
  std::string object;  // "Secret/jwt-secrets"
  bool created = false;  // first made (else put back)
  std::string what;      // "created", "deleted by hand; made again", "keys edited by hand: k1; put back"
};

// ADR-009's objects for `ctx`'s environment from hut's secrets (`current`:
// a secret's current value, NotFound when the backend has none): the
// Secrets of kSecretObjects, each with its whole value under its file key
// (and the database login's username and password, the API keys one key
// each, as External Secrets would map them), and the ConfigMap. A secret
// the backend lacks gives a Secret without keys.
absl::StatusOr<std::vector<SyncedObject>> DesiredObjects(
    const ObjectContext& ctx,
    const std::function<absl::StatusOr<Secret>(const std::string& secret)>& current);

class ConfigSync {
 public:
  // `labels` go on every object (managed-by hut, part-of the project).
  ConfigSync(ApiClient& api, std::string ns, nlohmann::json labels)
      : api_(api), ns_(std::move(ns)), labels_(std::move(labels)) {}

  // Makes each object what `desired` says; what it had to change. An
  // object it cannot read or write is an error naming it (the others are
  // still done).
  absl::StatusOr<std::vector<SyncChange>> Reconcile(const std::vector<SyncedObject>& desired);

 private:
  absl::StatusOr<std::optional<SyncChange>> One(const SyncedObject& o);
  ApiClient& api_;
  const std::string ns_;
  const nlohmann::json labels_;
  std::set<std::string> seen_;  // objects this process found or made (only Reconcile's caller)
};

}  // namespace hut::kubernetes

#endif  // HUT_KUBERNETES_CONFIG_SYNC_H_
