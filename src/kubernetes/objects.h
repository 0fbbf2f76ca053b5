#ifndef HUT_KUBERNETES_OBJECTS_H_
#define HUT_KUBERNETES_OBJECTS_H_

// The Kubernetes objects hut applies for a service, built from the spec
// (pure: tested without a cluster). docs/kubernetes.md lists them:
//   Deployment foohut-S          the service's stable revision (the ADR's name,
//                                so `kubectl rollout undo` works on it)
//   Deployment foohut-S-rN       any other revision with replicas (a canary, the
//                                new revision of a rolling update)
//   Service    foohut-S          every ready pod of the service
//   Service    foohut-S-rN       the pods of revision N (a router backend)
//   HTTPRoute  foohut-S          weights between the foohut-S-rN Services
//   ServiceScale foohut-S        the service's replica count, which the chart's
//                                HPA scales (autoscaling on; k8s/charts/hut/crds)
// Every object has the labels below; pods carry their revision's label.

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"
#include "src/runtime/runtime.h"
#include "src/spec/spec.h"

namespace hut::kubernetes {

inline constexpr std::string_view kLabelName = "app.kubernetes.io/name";
inline constexpr std::string_view kLabelPartOf = "app.kubernetes.io/part-of";
inline constexpr std::string_view kLabelManagedBy = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kLabelService = "hut.foohut.dev/service";
inline constexpr std::string_view kLabelRevision = "hut.foohut.dev/revision";
// On pod templates: the release's version (not a label: versions need not be
// valid label values).
inline constexpr std::string_view kAnnotationVersion = "hut.foohut.dev/version";
// On objects hut applies: a digest of what it applied, so an unchanged
// object is not written again.
inline constexpr std::string_view kAnnotationApplied = "hut.foohut.dev/applied";
// On the stable Deployment: the revision hut last put in its template. A
// template revision that differs was changed by someone else (kubectl
// rollout undo).
inline constexpr std::string_view kAnnotationRevision = "hut.foohut.dev/revision";
inline constexpr std::string_view kManagedBySelector = "app.kubernetes.io/managed-by=hut";
inline constexpr int kContainerPort = 8080;

struct ObjectContext {
  const spec::Spec& spec;
  const spec::Environment& env;
};

// ADR-009's Kubernetes Secrets: which of hut's secrets each holds, and the
// file a pod reads it from, mounted at kSecretMountRoot/<secret>/<file>
// (what {{secrets.<secret>.file}} names on this runtime).
struct SecretObjectName {
  std::string_view secret;  // hut's name ("database")
  std::string_view name;    // the Secret's ("database-credentials")
  std::string_view file;    // its key holding the whole value ("database.json")
};
inline constexpr SecretObjectName kSecretObjects[] = {
    {"database", "database-credentials", "database.json"},
    {"jwt", "jwt-secrets", "jwt-keys.json"},
    {"third-party-api-keys", "third-party-api-keys", "api-keys.json"},
};
inline constexpr std::string_view kSecretMountRoot = "/var/run/secrets/foohut";

// The ConfigMap of the environment's non-sensitive configuration, which every
// pod takes as environment variables: "foohut-config".
std::string ConfigMapName(const ObjectContext& ctx);
std::map<std::string, std::string> ConfigMapData(const ObjectContext& ctx);

std::string WorkloadName(const ObjectContext& ctx, std::string_view service);  // "foohut-backend"
std::string RevisionName(const ObjectContext& ctx, std::string_view service, int revision);

// The labels every object of `service` has.
nlohmann::json ServiceLabels(const ObjectContext& ctx, std::string_view service);

// The pod template of one revision: the release's image, args and env, the
// health checks as probes, and the ADR's container security.
nlohmann::json PodTemplate(const ObjectContext& ctx, const runtime::RevisionTemplate& t);

// A Deployment `name` running `t` with `replicas`. The stable one selects
// every pod of the service (so it can adopt a revision's ReplicaSet); a
// revision's own selects that revision only.
nlohmann::json DeploymentObject(const ObjectContext& ctx, const std::string& name,
                                const runtime::RevisionTemplate& t, int replicas, bool stable);

nlohmann::json MainServiceObject(const ObjectContext& ctx, std::string_view service);
nlohmann::json RevisionServiceObject(const ObjectContext& ctx, std::string_view service,
                                     int revision);

// The HTTPRoute sending `service`'s traffic to its revisions' Services with
// these weights (revision, weight). The route may be the chart's: its
// parentRefs, hostnames and first rule's matches (`live`, as TrimRoute keeps
// them) are applied unchanged, so that hut shares them instead of taking them.
nlohmann::json HttpRouteObject(const ObjectContext& ctx, std::string_view service,
                               const std::vector<std::pair<int, int>>& weights,
                               const nlohmann::json* live = nullptr);

// Router alb (the AWS Load Balancer Controller): the chart's Ingress
// `foohut-S` sends its rule to the forward action of the same name, an
// annotation hut rewrites with a target group per revision's Service and
// these weights. The object applies that annotation only.
std::string AlbActionAnnotation(const ObjectContext& ctx, std::string_view service);
nlohmann::json AlbIngressPatch(const ObjectContext& ctx, std::string_view service,
                               const std::vector<std::pair<int, int>>& weights);

// The ServiceScale of `service` (hut.foohut.dev/v1), created with `replicas`;
// from then on its spec.replicas is the autoscaler's (hut never applies it
// again) and its status hut's.
nlohmann::json ServiceScaleObject(const ObjectContext& ctx, std::string_view service,
                                  int replicas);
// Its status: the service's pods now, and their selector (for the HPA's metrics).
nlohmann::json ServiceScaleStatus(const ObjectContext& ctx, std::string_view service, int pods);
// The label selector of every pod of `service`, as the main Service selects them.
std::string PodSelector(const ObjectContext& ctx, std::string_view service);

// `object` with kAnnotationApplied set to a digest of the rest of it.
nlohmann::json WithDigest(nlohmann::json object);
// The digest `object` carries, "" when none.
std::string DigestOf(const nlohmann::json& object);

}  // namespace hut::kubernetes

#endif  // HUT_KUBERNETES_OBJECTS_H_
