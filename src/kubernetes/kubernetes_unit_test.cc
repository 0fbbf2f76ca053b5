// The Kubernetes runtime's pure parts: kubeconfig parsing, the objects hut
// applies, and how a pod's status reads as a replica.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "src/kubernetes/config_sync.h"
#include "src/kubernetes/kubeconfig.h"
#include "src/kubernetes/objects.h"
#include "src/kubernetes/pod_state.h"
#include "src/spec/load.h"

namespace hut::kubernetes {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kKubeconfig[] = R"(
apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: c1
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTg==
users:
- name: u1
  user:
    token: abc
contexts:
- name: admin
  context: {cluster: c1, user: u1, namespace: foohut-production}
- name: other
  context: {cluster: c1, user: nobody}
)";

TEST(KubeconfigTest, ReadsTheCurrentContext) {
  auto a = ParseKubeconfig(kKubeconfig, "/home/x/.kube/config");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->server, "https://10.0.0.1:6443");
  EXPECT_EQ(a->ca_pem, "-----BEGIN");
  EXPECT_EQ(a->token, "abc");
  EXPECT_EQ(a->default_namespace, "foohut-production");
  EXPECT_THAT(a->source, HasSubstr("/home/x/.kube/config"));
}

TEST(KubeconfigTest, NamesTheFileAndWhatIsWrong) {
  auto missing_user = ParseKubeconfig(kKubeconfig, "/k.yaml", "other");
  ASSERT_FALSE(missing_user.ok());
  EXPECT_EQ(missing_user.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing_user.status().message(), HasSubstr("/k.yaml"));
  EXPECT_THAT(missing_user.status().message(), HasSubstr("nobody"));

  auto no_context = ParseKubeconfig(kKubeconfig, "/k.yaml", "nope");
  ASSERT_FALSE(no_context.ok());
  EXPECT_THAT(no_context.status().message(), HasSubstr("nope"));

  auto not_yaml = ParseKubeconfig("clusters: [", "/k.yaml");
  ASSERT_FALSE(not_yaml.ok());
  EXPECT_THAT(not_yaml.status().message(), HasSubstr("/k.yaml"));

  auto no_file = LoadKubeconfig("/no/such/kubeconfig");
  ASSERT_FALSE(no_file.ok());
  EXPECT_THAT(no_file.status().message(), HasSubstr("/no/such/kubeconfig"));
}

class ObjectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec::LoadResult r = spec::ParseSpec(R"(
version: 1
project: foohut
services:
  backend:
    port: 8080
    release:
      command: [foohut-api, serve, --migrate]
      image: "ghcr.io/foohut/foohut-backend:{{version}}"
      env: {FOOHUT_VERSION: "{{version}}", FOOHUT_ENV: "{{environment}}"}
    health: {liveness_path: /healthz, readiness_path: /readyz, interval: 2s, timeout: 1s}
environments:
  production:
    runtime: kubernetes
    namespace: foohut-production
    domain: foohut.com
    services:
      backend: {replicas: 3}
)",
                                         "t.yaml");
    ASSERT_TRUE(r.ok()) << r.problems[0].message;
    spec_ = *r.spec;
    env_ = spec_.FindEnvironment("production");
  }

  runtime::RevisionTemplate Template(int revision) const {
    runtime::RevisionTemplate t;
    t.service = "backend";
    t.revision = revision;
    t.version = "1.4.0";
    t.release = spec_.FindService("backend")->release;
    t.env = {{"FOOHUT_LOG_LEVEL", "DEBUG"}};
    t.health = spec_.FindService("backend")->health;
    t.health.failure_threshold = 3;
    return t;
  }

  spec::Spec spec_;
  const spec::Environment* env_ = nullptr;
};

TEST_F(ObjectsTest, NamesFollowTheAdr) {
  ObjectContext ctx{spec_, *env_};
  EXPECT_EQ(WorkloadName(ctx, "backend"), "foohut-backend");
  EXPECT_EQ(RevisionName(ctx, "backend", 7), "foohut-backend-r7");
  EXPECT_EQ(env_->namespace_, "foohut-production");
}

TEST_F(ObjectsTest, PodTemplateRunsTheReleaseWithTheAdrsContainerSecurity) {
  ObjectContext ctx{spec_, *env_};
  const json pod = PodTemplate(ctx, Template(2));
  EXPECT_EQ(pod["metadata"]["labels"]["hut.foohut.dev/revision"], "2");
  EXPECT_EQ(pod["metadata"]["labels"]["app.kubernetes.io/name"], "foohut-backend");
  EXPECT_EQ(pod["metadata"]["annotations"]["hut.foohut.dev/version"], "1.4.0");
  const json& spec = pod["spec"];
  const json& c = spec["containers"][0];
  EXPECT_EQ(c["image"], "ghcr.io/foohut/foohut-backend:1.4.0");
  EXPECT_EQ(c["args"], json::array({"serve", "--migrate"}));
  std::map<std::string, std::string> env;
  for (const json& e : c["env"]) env[e["name"]] = e["value"];
  EXPECT_EQ(env["FOOHUT_VERSION"], "1.4.0");
  EXPECT_EQ(env["FOOHUT_ENV"], "production");
  EXPECT_EQ(env["FOOHUT_LOG_LEVEL"], "DEBUG");
  EXPECT_EQ(env["PORT"], "8080");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/readyz");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(c["readinessProbe"]["failureThreshold"], 3);
  EXPECT_EQ(c["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(c["securityContext"]["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_EQ(spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_EQ(spec["automountServiceAccountToken"], false);
  EXPECT_TRUE(c["resources"]["requests"].contains("cpu"));
  EXPECT_TRUE(c["resources"]["limits"].contains("memory"));
}

// The Secrets a release names are mounted read-only and its placeholders
// name the files; the ConfigMap comes in as environment variables.
TEST_F(ObjectsTest, PodTemplateMountsTheSecretsItsReleaseNamesAndTakesTheConfigMap) {
  ObjectContext ctx{spec_, *env_};
  runtime::RevisionTemplate t = Template(2);
  t.release.env["FOOHUT_DATABASE_CREDENTIALS_FILE"] = "{{secrets.database.file}}";
  t.release.env["FOOHUT_JWT_KEYS_FILE"] = "{{secrets.jwt.file}}";
  const json pod = PodTemplate(ctx, t);
  const json& c = pod["spec"]["containers"][0];
  std::map<std::string, std::string> env;
  for (const json& e : c["env"]) env[e["name"]] = e["value"];
  EXPECT_EQ(env["FOOHUT_DATABASE_CREDENTIALS_FILE"], "/var/run/secrets/foohut/database/database.json");
  EXPECT_EQ(env["FOOHUT_JWT_KEYS_FILE"], "/var/run/secrets/foohut/jwt/jwt-keys.json");
  std::map<std::string, json> volumes;
  for (const json& v : pod["spec"]["volumes"]) volumes[v["name"]] = v;
  EXPECT_EQ(volumes["secret-database"]["secret"]["secretName"], "database-credentials");
  EXPECT_EQ(volumes["secret-jwt"]["secret"]["secretName"], "jwt-secrets");
  EXPECT_FALSE(volumes.contains("secret-third-party-api-keys")) << "not named: not mounted";
  std::map<std::string, json> mounts;
  for (const json& m : c["volumeMounts"]) mounts[m["name"]] = m;
  EXPECT_EQ(mounts["secret-database"]["mountPath"], "/var/run/secrets/foohut/database");
  EXPECT_EQ(mounts["secret-database"]["readOnly"], true);
  EXPECT_EQ(c["envFrom"][0]["configMapRef"]["name"], "foohut-config");
  // A release that names none mounts none.
  const json plain = PodTemplate(ctx, Template(3));
  EXPECT_EQ(plain["spec"]["volumes"].size(), 1u) << plain["spec"]["volumes"].dump();
}

TEST_F(ObjectsTest, TheSyncedObjectsHaveTheAdrsNamesAndKeys) {
  ObjectContext ctx{spec_, *env_};
  auto objects = DesiredObjects(ctx, [](const std::string& secret) -> absl::StatusOr<Secret> {
    if (secret == "database") return Secret(R"({"engine":"postgres","dbname":"foohut","username":"foohut","password":"pw1"})");  // pragma: allowlist secret (test fixture)
    if (secret == "jwt") return Secret(R"({"active_kid":"k1","keys":{"k1":"a2V5"}})");  // pragma: allowlist secret (test fixture)
    return absl::NotFoundError("no " + secret);
  });
  ASSERT_TRUE(objects.ok()) << objects.status();
  std::map<std::string, std::vector<std::string>> keys;
  for (const SyncedObject& o : *objects) {
    for (const auto& [k, v] : o.data) keys[o.name].push_back(k);
  }
  EXPECT_EQ(keys["database-credentials"], (std::vector<std::string>{"database.json", "password", "username"}));
  EXPECT_EQ(keys["jwt-secrets"], std::vector<std::string>{"jwt-keys.json"});
  EXPECT_TRUE(keys["third-party-api-keys"].empty()) << "not in the backend: no keys";
  EXPECT_EQ(keys["foohut-config"], (std::vector<std::string>{"FOOHUT_ENV", "FOOHUT_LOG_LEVEL", "FOOHUT_PROJECT"}));
  EXPECT_EQ(objects->size(), 4u);
  EXPECT_EQ(objects->back().kind, SyncedObject::Kind::kConfigMap);
  EXPECT_EQ(objects->back().data.at("FOOHUT_ENV").Reveal(), "production");
}

TEST_F(ObjectsTest, TheStableDeploymentSelectsEveryPodARevisionsOnlyItsOwn) {
  ObjectContext ctx{spec_, *env_};
  const json stable = DeploymentObject(ctx, "foohut-backend", Template(1), 3, true);
  const json canary = DeploymentObject(ctx, "foohut-backend-r2", Template(2), 1, false);
  EXPECT_EQ(stable["spec"]["selector"]["matchLabels"],
            json({{"app.kubernetes.io/name", "foohut-backend"}}));
  EXPECT_EQ(canary["spec"]["selector"]["matchLabels"]["hut.foohut.dev/revision"], "2");
  EXPECT_EQ(stable["spec"]["replicas"], 3);
  EXPECT_EQ(stable["metadata"]["namespace"], "foohut-production");
  EXPECT_EQ(stable["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
}

TEST_F(ObjectsTest, TheRouteWeighsRevisionServicesAndKeepsTheChartsFields) {
  ObjectContext ctx{spec_, *env_};
  json route = HttpRouteObject(ctx, "backend", {{1, 90}, {2, 10}});
  const json& refs = route["spec"]["rules"][0]["backendRefs"];
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0]["name"], "foohut-backend-r1");
  EXPECT_EQ(refs[0]["weight"], 90);
  EXPECT_EQ(refs[1]["weight"], 10);
  EXPECT_EQ(refs[1]["port"], 8080);
  EXPECT_EQ(route["spec"]["hostnames"], json::array({"foohut.com"}));
  EXPECT_EQ(route["spec"]["parentRefs"][0]["name"], "foohut");

  // The chart's route: its parents, host names and matches are kept as they are.
  const json live = TrimRoute(json::parse(R"({
    "metadata": {"name": "foohut-backend", "resourceVersion": "5",
                 "labels": {"hut.foohut.dev/service": "backend"}},
    "spec": {"parentRefs": [{"name": "edge", "namespace": "gw"}],
             "hostnames": ["api.foohut.com"],
             "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                        "backendRefs": [{"name": "foohut-backend", "port": 8080, "weight": 100}]}]}})"));
  route = HttpRouteObject(ctx, "backend", {{1, 100}}, &live);
  EXPECT_EQ(route["spec"]["parentRefs"][0]["name"], "edge");
  EXPECT_EQ(route["spec"]["hostnames"], json::array({"api.foohut.com"}));
  EXPECT_EQ(route["spec"]["rules"][0]["matches"][0]["path"]["value"], "/api");
  EXPECT_EQ(route["spec"]["rules"][0]["backendRefs"][0]["name"], "foohut-backend-r1");
}

TEST_F(ObjectsTest, TheDigestChangesWithTheObjectOnly) {
  ObjectContext ctx{spec_, *env_};
  const json a = WithDigest(DeploymentObject(ctx, "foohut-backend", Template(1), 3, true));
  const json b = WithDigest(DeploymentObject(ctx, "foohut-backend", Template(1), 3, true));
  const json c = WithDigest(DeploymentObject(ctx, "foohut-backend", Template(1), 4, true));
  EXPECT_FALSE(DigestOf(a).empty());
  EXPECT_EQ(DigestOf(a), DigestOf(b));
  EXPECT_NE(DigestOf(a), DigestOf(c));
  EXPECT_EQ(DigestOf(WithDigest(a)), DigestOf(a));  // the digest is not part of itself
}

json Pod(const std::string& status_json) {
  json pod = json::parse(R"({"metadata": {"name": "foohut-backend-abc", "labels": {"hut.foohut.dev/revision": "3"},
                                          "annotations": {"hut.foohut.dev/version": "v3"},
                                          "creationTimestamp": "2026-12-03T10:00:00Z"},
                             "spec": {"nodeName": "kwok-node-1"}})");
  pod["status"] = json::parse(status_json);
  return TrimPod(pod);
}

TimePoint At(const std::string& t) { return *ParseApiTime(t); }

TEST(PodStateTest, ReadyRunningPodIsReadyAndServing) {
  PodReading r = ReadPod(Pod(R"({"phase": "Running", "startTime": "2026-12-03T10:00:01Z",
      "conditions": [{"type": "Ready", "status": "True"}],
      "containerStatuses": [{"ready": true, "restartCount": 0, "state": {"running": {}}}]})"),
                         {}, At("2026-12-03T10:00:05Z"));
  EXPECT_EQ(r.replica.state, runtime::ReplicaState::kReady);
  EXPECT_TRUE(r.replica.serving);
  EXPECT_EQ(r.replica.revision, 3);
  EXPECT_EQ(r.replica.version, "v3");
  EXPECT_EQ(r.replica.details["node"], "kwok-node-1");
  EXPECT_FALSE(r.cannot_start);
}

TEST(PodStateTest, NotReadyIsStartingThenFailingAfterTheStartPeriod) {
  const json pod = Pod(R"({"phase": "Running", "startTime": "2026-12-03T10:00:00Z",
      "conditions": [{"type": "Ready", "status": "False", "message": "readiness probe failed"}],
      "containerStatuses": [{"ready": false, "restartCount": 0, "state": {"running": {}}}]})");
  spec::HealthCheck health;
  health.start_period = std::chrono::seconds(10);
  EXPECT_EQ(ReadPod(pod, health, At("2026-12-03T10:00:05Z")).replica.state,
            runtime::ReplicaState::kStarting);
  PodReading late = ReadPod(pod, health, At("2026-12-03T10:00:30Z"));
  EXPECT_EQ(late.replica.state, runtime::ReplicaState::kFailing);
  EXPECT_THAT(late.replica.reason, HasSubstr("readiness probe failed"));
  EXPECT_TRUE(runtime::Unhealthy(late.replica.state));
}

TEST(PodStateTest, AnImageThatCannotBePulledCannotStart) {
  PodReading r = ReadPod(Pod(R"({"phase": "Pending",
      "containerStatuses": [{"ready": false, "restartCount": 0, "image": "ghcr.io/x:v9",
                             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}]})"),
                         {}, At("2026-12-03T10:00:05Z"));
  ASSERT_TRUE(r.cannot_start);
  EXPECT_THAT(*r.cannot_start, HasSubstr("ghcr.io/x:v9"));
  EXPECT_THAT(*r.cannot_start, HasSubstr("ImagePullBackOff"));
}

TEST(PodStateTest, CrashLoopBackOffIsCrashLooping) {
  PodReading r = ReadPod(Pod(R"({"phase": "Running",
      "containerStatuses": [{"ready": false, "restartCount": 4,
                             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                             "lastState": {"terminated": {"reason": "Error"}}}]})"),
                         {}, At("2026-12-03T10:00:05Z"));
  EXPECT_EQ(r.replica.state, runtime::ReplicaState::kCrashLooping);
  EXPECT_EQ(r.replica.restarts, 4);
  EXPECT_THAT(r.replica.reason, HasSubstr("Error"));
}

TEST(PodStateTest, ADeletedPodIsDraining) {
  json pod = Pod(R"({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})");
  pod["metadata"]["deletionTimestamp"] = "2026-12-03T10:00:04Z";
  PodReading r = ReadPod(pod, {}, At("2026-12-03T10:00:05Z"));
  EXPECT_EQ(r.replica.state, runtime::ReplicaState::kDraining);
  EXPECT_FALSE(r.replica.serving);
}

TEST(PodStateTest, TrimmedDeploymentsNameWhoElseSetTheirTemplate) {
  const json d = TrimDeployment(json::parse(R"({"metadata": {"name": "foohut-backend", "managedFields": [
      {"manager": "hut", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {}}}},
      {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
       "fieldsV1": {"f:status": {}}},
      {"manager": "kubectl-rollout", "operation": "Update",
       "fieldsV1": {"f:spec": {"f:template": {"f:metadata": {"f:labels": {
           "f:hut.foohut.dev/revision": {}}}}}}}]}})"));
  EXPECT_EQ(d["metadata"]["templateManagers"], json::array({"kubectl-rollout"}));
  EXPECT_FALSE(d["metadata"].contains("managedFields"));
}

TEST(PodStateTest, ATemplateHutAppliedAgainNoLongerCountsAsSetByOthers) {
  // After kubectl rollout undo hut applies the same values: both own them.
  const json d = TrimDeployment(json::parse(R"({"metadata": {"name": "foohut-backend", "managedFields": [
      {"manager": "hut", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {},
       "f:template": {"f:metadata": {"f:labels": {"f:app": {}, "f:hut.foohut.dev/revision": {}}}}}}},
      {"manager": "kubectl-rollout", "operation": "Update",
       "fieldsV1": {"f:spec": {"f:template": {"f:metadata": {"f:labels": {
           "f:hut.foohut.dev/revision": {}}}}}}}]}})"));
  EXPECT_FALSE(d["metadata"].contains("templateManagers")) << d.dump();
}

}  // namespace
}  // namespace hut::kubernetes
