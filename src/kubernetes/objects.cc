#include "src/kubernetes/objects.h"

#include <sodium.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/common/log.h"

namespace hut::kubernetes {
namespace {

using json = nlohmann::json;

int Seconds(Duration d, int at_least = 0) {
  const auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
  return std::max(at_least, static_cast<int>(s));
}

json Probe(const std::string& path, const spec::HealthCheck& h, int failures) {
  return {{"httpGet", {{"path", path}, {"port", "http"}}},
          {"periodSeconds", Seconds(h.interval, 1)},
          {"timeoutSeconds", Seconds(h.timeout, 1)},
          {"failureThreshold", std::max(1, failures)}};
}

json Metadata(const ObjectContext& ctx, const std::string& name, std::string_view service) {
  return {{"name", name}, {"namespace", ctx.env.namespace_}, {"labels", ServiceLabels(ctx, service)}};
}

const spec::Service& ServiceOf(const ObjectContext& ctx, std::string_view name) {
  static const spec::Service kNone;
  const spec::Service* s = ctx.spec.FindService(name);
  return s != nullptr ? *s : kNone;
}

}  // namespace

std::string WorkloadName(const ObjectContext& ctx, std::string_view service) {
  return absl::StrCat(ctx.spec.project, "-", std::string(service));
}

std::string RevisionName(const ObjectContext& ctx, std::string_view service, int revision) {
  return absl::StrCat(WorkloadName(ctx, service), "-r", revision);
}

json ServiceLabels(const ObjectContext& ctx, std::string_view service) {
  return {{std::string(kLabelName), WorkloadName(ctx, service)},
          {std::string(kLabelPartOf), ctx.spec.project},
          {std::string(kLabelManagedBy), "hut"},
          {std::string(kLabelService), std::string(service)}};
}

std::string ConfigMapName(const ObjectContext& ctx) { return absl::StrCat(ctx.spec.project, "-config"); }

std::map<std::string, std::string> ConfigMapData(const ObjectContext& ctx) {
  return {{"FOOHUT_ENV", ctx.env.name},
          {"FOOHUT_PROJECT", ctx.spec.project},
          {"FOOHUT_LOG_LEVEL", std::string(LogLevelName(ctx.env.policies.logging.level))}};
}

json PodTemplate(const ObjectContext& ctx, const runtime::RevisionTemplate& t) {
  spec::ReleaseContext rc;
  rc.version = t.version;
  rc.port = kContainerPort;
  rc.service = t.service;
  rc.environment = ctx.env.name;
  // The Secrets its release names, mounted read-only: a rotation rewrites
  // the Secret and the kubelet the files, without a restart.
  json volumes = json::array({{{"name", "tmp"}, {"emptyDir", json::object()}}});
  json mounts = json::array({{{"name", "tmp"}, {"mountPath", "/tmp"}}});
  for (const SecretObjectName& s : kSecretObjects) {
    if (!spec::NamesSecret(t.release, s.secret)) continue;
    const std::string dir = absl::StrCat(std::string(kSecretMountRoot), "/", std::string(s.secret));
    rc.secret_files[std::string(s.secret)] = absl::StrCat(dir, "/", std::string(s.file));
    const std::string volume = absl::StrCat("secret-", std::string(s.secret));
    volumes.push_back({{"name", volume},
                       {"secret", {{"secretName", std::string(s.name)}, {"defaultMode", 0440}}}});
    mounts.push_back({{"name", volume}, {"mountPath", dir}, {"readOnly", true}});
  }
  const spec::Release release = spec::ExpandRelease(t.release, rc);
  std::map<std::string, std::string> vars = release.env;
  for (const auto& [k, v] : t.env) vars[k] = v;
  vars["PORT"] = std::to_string(kContainerPort);
  json env = json::array();
  for (const auto& [k, v] : vars) env.push_back({{"name", k}, {"value", v}});
  // The image's entrypoint is the release's program; the rest are its arguments.
  json args = json::array();
  for (size_t i = 1; i < release.command.size(); ++i) args.push_back(release.command[i]);

  const int failures = t.health.failure_threshold.value_or(3);
  json probe_ready = Probe(t.health.readiness_path, t.health, failures);
  json probe_live = Probe(t.health.liveness_path, t.health, failures);
  probe_live["initialDelaySeconds"] = Seconds(t.health.start_period);

  json container = {
      {"name", t.service},
      {"image", release.image},
      {"args", args},
      {"ports", json::array({{{"name", "http"}, {"containerPort", kContainerPort}, {"protocol", "TCP"}}})},
      {"env", env},
      // The environment's non-sensitive configuration; the release's own
      // variables win.
      {"envFrom", json::array({{{"configMapRef", {{"name", ConfigMapName(ctx)}}}}})},
      {"readinessProbe", probe_ready},
      {"livenessProbe", probe_live},
      // hut's defaults: the autoscaler needs requests to measure utilisation.
      {"resources",
       {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}, {"limits", {{"memory", "512Mi"}}}}},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"readOnlyRootFilesystem", true},
        {"allowPrivilegeEscalation", false},
        {"capabilities", {{"drop", json::array({"ALL"})}}}}},
      {"volumeMounts", mounts},
  };
  json labels = ServiceLabels(ctx, t.service);
  labels[std::string(kLabelRevision)] = std::to_string(t.revision);
  return {
      {"metadata",
       {{"labels", labels}, {"annotations", {{std::string(kAnnotationVersion), t.version}}}}},
      {"spec",
       {{"automountServiceAccountToken", false},
        {"enableServiceLinks", false},
        {"terminationGracePeriodSeconds", Seconds(t.termination_grace)},
        {"securityContext",
         {{"runAsNonRoot", true},
          {"runAsUser", 10001},
          {"runAsGroup", 10001},
          {"fsGroup", 10001},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
        {"containers", json::array({container})},
        {"volumes", volumes}}},
  };
}

json DeploymentObject(const ObjectContext& ctx, const std::string& name,
                      const runtime::RevisionTemplate& t, int replicas, bool stable) {
  const spec::RollingPolicy& rolling = ctx.env.policies.rolling;
  json selector = {{std::string(kLabelName), WorkloadName(ctx, t.service)}};
  if (!stable) selector[std::string(kLabelRevision)] = std::to_string(t.revision);
  json d = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", Metadata(ctx, name, t.service)},
      {"spec",
       {{"replicas", replicas},
        {"revisionHistoryLimit", 10},
        {"progressDeadlineSeconds", Seconds(rolling.progress_deadline, 1)},
        {"selector", {{"matchLabels", selector}}},
        {"strategy",
         {{"type", "RollingUpdate"},
          {"rollingUpdate",
           {{"maxSurge", rolling.max_surge}, {"maxUnavailable", rolling.max_unavailable}}}}},
        {"template", PodTemplate(ctx, t)}}},
  };
  if (stable) {
    d["metadata"]["annotations"][std::string(kAnnotationRevision)] = std::to_string(t.revision);
  }
  return d;
}

namespace {

json ServiceObject(const ObjectContext& ctx, const std::string& name, std::string_view service,
                   json selector) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", Metadata(ctx, name, service)},
          {"spec",
           {{"type", "ClusterIP"},
            {"selector", selector},
            {"ports", json::array({{{"name", "http"},
                                    {"port", ServiceOf(ctx, service).port},
                                    {"targetPort", "http"},
                                    {"protocol", "TCP"}}})}}}};
}

}  // namespace

json MainServiceObject(const ObjectContext& ctx, std::string_view service) {
  return ServiceObject(ctx, WorkloadName(ctx, service), service,
                       {{std::string(kLabelName), WorkloadName(ctx, service)}});
}

json RevisionServiceObject(const ObjectContext& ctx, std::string_view service, int revision) {
  json s = ServiceObject(ctx, RevisionName(ctx, service, revision), service,
                         {{std::string(kLabelName), WorkloadName(ctx, service)},
                          {std::string(kLabelRevision), std::to_string(revision)}});
  s["metadata"]["labels"][std::string(kLabelRevision)] = std::to_string(revision);
  return s;
}

json HttpRouteObject(const ObjectContext& ctx, std::string_view service,
                     const std::vector<std::pair<int, int>>& weights, const json* live) {
  json refs = json::array();
  for (const auto& [revision, weight] : weights) {
    refs.push_back({{"name", RevisionName(ctx, service, revision)},
                    {"port", ServiceOf(ctx, service).port},
                    {"weight", weight}});
  }
  json parents = json::array({{{"name", ctx.env.router.name}}});
  json hostnames = ctx.env.domain.empty() ? json() : json::array({ctx.env.domain});
  json rule = {{"backendRefs", refs}};
  if (live != nullptr) {
    if (live->contains("parentRefs")) parents = (*live)["parentRefs"];
    if (live->contains("hostnames")) hostnames = (*live)["hostnames"];
    if (live->contains("matches")) rule["matches"] = (*live)["matches"];
  }
  json route = {{"apiVersion", "gateway.networking.k8s.io/v1"},
                {"kind", "HTTPRoute"},
                {"metadata", Metadata(ctx, WorkloadName(ctx, service), service)},
                {"spec", {{"parentRefs", parents}, {"rules", json::array({rule})}}}};
  if (!hostnames.is_null()) route["spec"]["hostnames"] = hostnames;
  return route;
}

std::string AlbActionAnnotation(const ObjectContext& ctx, std::string_view service) {
  return "alb.ingress.kubernetes.io/actions." + WorkloadName(ctx, service);
}

json AlbIngressPatch(const ObjectContext& ctx, std::string_view service,
                     const std::vector<std::pair<int, int>>& weights) {
  json groups = json::array();
  for (const auto& [revision, weight] : weights) {
    groups.push_back({{"serviceName", RevisionName(ctx, service, revision)},
                      {"servicePort", std::to_string(ServiceOf(ctx, service).port)},
                      {"weight", weight}});
  }
  const json forward = {{"type", "forward"}, {"forwardConfig", {{"targetGroups", groups}}}};
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "Ingress"},
          {"metadata",
           {{"name", WorkloadName(ctx, service)},
            {"namespace", ctx.env.namespace_},
            {"annotations", {{AlbActionAnnotation(ctx, service), forward.dump()}}}}}};
}

json ServiceScaleObject(const ObjectContext& ctx, std::string_view service, int replicas) {
  return {{"apiVersion", "hut.foohut.dev/v1"},
          {"kind", "ServiceScale"},
          {"metadata", Metadata(ctx, WorkloadName(ctx, service), service)},
          {"spec", {{"replicas", replicas}}}};
}

json ServiceScaleStatus(const ObjectContext& ctx, std::string_view service, int pods) {
  return {{"apiVersion", "hut.foohut.dev/v1"},
          {"kind", "ServiceScale"},
          {"metadata", {{"name", WorkloadName(ctx, service)}, {"namespace", ctx.env.namespace_}}},
          {"status", {{"replicas", pods}, {"selector", PodSelector(ctx, service)}}}};
}

std::string PodSelector(const ObjectContext& ctx, std::string_view service) {
  return absl::StrCat(std::string(kLabelName), "=", WorkloadName(ctx, service));
}

json WithDigest(json object) {
  json& annotations = object["metadata"]["annotations"];
  if (!annotations.is_object()) annotations = json::object();
  annotations.erase(std::string(kAnnotationApplied));
  const std::string text = object.dump();
  unsigned char digest[16];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(text.data()),
                     text.size(), nullptr, 0);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  object["metadata"]["annotations"][std::string(kAnnotationApplied)] = hex;
  return object;
}

std::string DigestOf(const json& object) {
  const json::json_pointer p("/metadata/annotations/" +
                             std::string("hut.foohut.dev~1applied"));
  return object.value(p, std::string());
}

}  // namespace hut::kubernetes
