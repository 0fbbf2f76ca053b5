// KubernetesRuntime against the real control plane of scripts/k8s-testbed.sh:
// kube-apiserver with TLS, tokens and RBAC, etcd, the controller-manager's
// Deployment and ReplicaSet controllers, the scheduler, and kwok playing the
// kubelets (testing/k8s/kwok-stages.yaml: images kwok.test/never-ready... never
// turn ready, kwok.test/unpullable... cannot be pulled). Each test has its own
// namespace.
#include "src/kubernetes/kubernetes_runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "src/common/base64.h"
#include "src/http/client.h"
#include "src/kubernetes/config_sync.h"
#include "src/kubernetes/objects.h"
#include "src/local/prometheus_server.h"
#include "src/local/server_util.h"
#include "src/monitoring/prometheus_config.h"
#include "src/spec/load.h"
#include "testing/k8s_testbed.h"
#include "testing/test_env.h"

namespace hut::kubernetes {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

testing::K8sTestbed* testbed = nullptr;

class TestbedEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto tb = testing::K8sTestbed::Start();
    ASSERT_TRUE(tb.ok()) << tb.status();
    testbed_ = std::move(*tb);
    testbed = testbed_.get();
  }
  void TearDown() override {
    testbed = nullptr;
    testbed_.reset();
  }

 private:
  std::unique_ptr<testing::K8sTestbed> testbed_;
};
const auto* const kTestbed = ::testing::AddGlobalTestEnvironment(new TestbedEnvironment);

std::string SpecYaml(const std::string& ns, const std::string& router) {
  return absl::StrCat(R"(
version: 1
project: foohut
services:
  backend:
    port: 8080
    release:
      command: [foohut-api, serve]
      image: "kwok.test/foohut-backend:{{version}}"
    health: {liveness_path: /healthz, readiness_path: /readyz, interval: 1s, start_period: 2s}
environments:
  production:
    runtime: kubernetes
    strategy: canary
    namespace: )", ns, R"(
    domain: foohut.com
    router: {kind: )", router, R"(}
    services:
      backend: {replicas: 3}
)");
}

class KubernetesRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(testbed, nullptr);
    static int n = 0;
    ns_ = absl::StrCat("rt-", ++n);
    ASSERT_TRUE(testbed->Kubectl({"create", "namespace", ns_}).ok());
    Load("gateway-api");
  }

  void Load(const std::string& router) {
    spec::LoadResult loaded = spec::ParseSpec(SpecYaml(ns_, router), "test.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.problems[0].message;
    spec_ = std::make_unique<spec::Spec>(*loaded.spec);
    env_ = spec_->FindEnvironment("production");
    ASSERT_NE(env_, nullptr);
  }

  void StartRuntime() {
    auto access = LoadKubeconfig(testbed->kubeconfig());
    ASSERT_TRUE(access.ok()) << access.status();
    auto rt = KubernetesRuntime::Start(*spec_, *env_, *access, clock_);
    ASSERT_TRUE(rt.ok()) << rt.status();
    rt_ = std::move(*rt);
  }

  runtime::RevisionTemplate Template(int revision, const std::string& image_prefix = "kwok.test/foohut-backend") {
    runtime::RevisionTemplate t;
    t.service = "backend";
    t.revision = revision;
    t.version = absl::StrCat("v", revision);
    t.release = spec_->FindService("backend")->release;
    t.release.image = image_prefix + ":{{version}}";
    t.health = spec_->FindService("backend")->health;
    return t;
  }

  // Applies `plan` every 100 ms until `done` holds of what Observe() shows
  // (10 s at most); the last observation.
  runtime::Observation ApplyUntil(const runtime::ServicePlan& plan,
                                  const std::map<int, runtime::RevisionTemplate>& templates,
                                  const std::function<bool(const runtime::Observation&)>& done) {
    runtime::Observation seen;
    std::string last_error;
    for (int i = 0; i < 100; ++i) {
      runtime::ApplyResult r = rt_->Apply("backend", plan, templates);
      EXPECT_TRUE(r.status.ok()) << r.status;
      for (const auto& c : r.changes) {
        if (getenv("HUT_TEST_VERBOSE")) fprintf(stderr, "change %s: %s\n", c.type.c_str(), c.message.c_str());
        changes_.push_back(c);
      }
      auto observed = rt_->Observe("backend");
      last_error = observed.status().ToString();
      if (observed.ok()) {
        seen = *observed;
        if (done(seen)) {
          // The route follows the ready pods the last Apply saw: one more
          // tick settles it on what this Observe saw.
          runtime::ApplyResult settle = rt_->Apply("backend", plan, templates);
          EXPECT_TRUE(settle.status.ok()) << settle.status;
          for (const auto& c : settle.changes) changes_.push_back(c);
          return seen;
        }
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    std::string changes;
    for (const auto& c : changes_) absl::StrAppend(&changes, "\n  ", c.type, ": ", c.message);
    auto world = testbed->Kubectl({"-n", ns_, "get", "deployments,replicasets,pods", "-o", "wide"});
    ADD_FAILURE() << "not reached in 10 s for " << DebugString(plan) << "; last seen: "
                  << Describe(seen) << " (" << last_error << ")\nchanges:" << changes << "\n"
                  << (world.ok() ? *world : world.status().ToString());
    return seen;
  }

  static std::string Describe(const runtime::Observation& o) {
    std::vector<std::string> parts;
    for (const auto& r : o.replicas) {
      parts.push_back(absl::StrCat(r.name, " r", r.revision, " ", std::string(runtime::ReplicaStateName(r.state))));
    }
    return absl::StrJoin(parts, ", ");
  }

  static int Count(const runtime::Observation& o, int revision, runtime::ReplicaState state) {
    int n = 0;
    for (const auto& r : o.replicas) n += r.revision == revision && r.state == state;
    return n;
  }
  static int Pods(const runtime::Observation& o, int revision) {
    int n = 0;
    for (const auto& r : o.replicas) n += r.revision == revision;
    return n;
  }

  json Get(const std::string& what) {
    auto out = testbed->Kubectl({"-n", ns_, "get", what, "-o", "json", "--show-managed-fields"});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? json::parse(*out) : json();
  }
  std::vector<std::string> Names(const std::string& kind) {
    std::vector<std::string> names;
    const json list = Get(kind);
    for (const json& item : list["items"]) names.push_back(item["metadata"]["name"]);
    return names;
  }
  // The HTTPRoute's weights by backend name.
  std::map<std::string, int> RouteWeights() {
    std::map<std::string, int> w;
    const json route = Get("httproute/foohut-backend");
    for (const json& ref : route["spec"]["rules"][0]["backendRefs"]) {
      w[ref["name"]] = ref["weight"];
    }
    return w;
  }

  static runtime::ServicePlan Plan(std::vector<runtime::RevisionTarget> revisions, bool split = false) {
    runtime::ServicePlan p;
    p.revisions = std::move(revisions);
    p.split = split;
    return p;
  }

  std::string ns_;
  std::unique_ptr<spec::Spec> spec_;
  const spec::Environment* env_ = nullptr;
  RealClock clock_;
  std::unique_ptr<KubernetesRuntime> rt_;
  std::vector<runtime::Change> changes_;
};

TEST_F(KubernetesRuntimeTest, FirstDeployCreatesExactlyTheDocumentedObjects) {
  StartRuntime();
  runtime::Observation o = ApplyUntil(Plan({{1, 3}}), {{1, Template(1)}}, [](const auto& o) {
    return Count(o, 1, runtime::ReplicaState::kReady) == 3;
  });
  EXPECT_EQ(Names("deployments"), std::vector<std::string>{"foohut-backend"});
  EXPECT_EQ(Names("services"), (std::vector<std::string>{"foohut-backend", "foohut-backend-r1"}));
  EXPECT_EQ(Names("httproutes"), std::vector<std::string>{"foohut-backend"});
  EXPECT_EQ(Names("servicescales"), std::vector<std::string>{"foohut-backend"});
  EXPECT_EQ(RouteWeights(), (std::map<std::string, int>{{"foohut-backend-r1", 3}}));
  EXPECT_EQ(o.traffic, (std::map<int, double>{{1, 1.0}}));

  const json d = Get("deployment/foohut-backend");
  EXPECT_EQ(d["metadata"]["annotations"]["hut.foohut.dev/revision"], "1");
  const json& pod = d["spec"]["template"]["spec"];
  EXPECT_EQ(pod["containers"][0]["image"], "kwok.test/foohut-backend:v1");
  EXPECT_EQ(pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(pod["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(pod["automountServiceAccountToken"], false);
  // Field manager hut.
  bool hut_manages = false;
  for (const json& m : d["metadata"]["managedFields"]) hut_manages |= m["manager"] == "hut";
  EXPECT_TRUE(hut_manages);

  // Safe to repeat: the same plan again writes nothing.
  const uint64_t writes = rt_->api_counts().writes;
  const uint64_t reads = rt_->api_counts().reads;
  for (int i = 0; i < 10; ++i) {
    runtime::ApplyResult again = rt_->Apply("backend", Plan({{1, 3}}), {{1, Template(1)}});
    EXPECT_TRUE(again.status.ok()) << again.status;
    EXPECT_TRUE(again.changes.empty()) << again.changes[0].message;
    ASSERT_TRUE(rt_->Observe("backend").ok());
  }
  EXPECT_EQ(rt_->api_counts().writes, writes);
  EXPECT_EQ(rt_->api_counts().reads, reads);  // reads come from the caches
}

TEST_F(KubernetesRuntimeTest, ARestartedRuntimeListsWhatExistsAndWritesNothing) {
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1)}, {2, Template(2)}};
  ApplyUntil(Plan({{1, 3}, {2, 1}}), t, [](const auto& o) {
    return Count(o, 1, runtime::ReplicaState::kReady) == 3 &&
           Count(o, 2, runtime::ReplicaState::kReady) == 1;
  });
  rt_.reset();
  StartRuntime();  // lists what is there
  auto o = rt_->Observe("backend");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(Count(*o, 1, runtime::ReplicaState::kReady), 3);
  EXPECT_EQ(Count(*o, 2, runtime::ReplicaState::kReady), 1);
  EXPECT_NEAR(o->traffic[2], 0.25, 1e-9);
  runtime::ApplyResult again = rt_->Apply("backend", Plan({{1, 3}, {2, 1}}), t);
  EXPECT_TRUE(again.status.ok()) << again.status;
  EXPECT_TRUE(again.changes.empty()) << again.changes[0].message;
  EXPECT_EQ(rt_->api_counts().writes, 0u);
}

TEST_F(KubernetesRuntimeTest, RollingUpdateHandsTheNewRevisionToTheStableDeployment) {
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1)}, {2, Template(2)}};
  auto ready = [](int r1, int r2) {
    return [r1, r2](const runtime::Observation& o) {
      return Count(o, 1, runtime::ReplicaState::kReady) == r1 &&
             Count(o, 2, runtime::ReplicaState::kReady) == r2 && Pods(o, 1) == r1;
    };
  };
  ApplyUntil(Plan({{1, 3}}), t, ready(3, 0));
  // One pod at a time, as a rolling strategy asks.
  ApplyUntil(Plan({{1, 3}, {2, 1}}), t, ready(3, 1));
  EXPECT_EQ(RouteWeights(), (std::map<std::string, int>{{"foohut-backend-r1", 3}, {"foohut-backend-r2", 1}}));
  ApplyUntil(Plan({{1, 2}, {2, 1}}), t, ready(2, 1));
  ApplyUntil(Plan({{1, 2}, {2, 2}}), t, ready(2, 2));
  ApplyUntil(Plan({{1, 1}, {2, 2}}), t, ready(1, 2));
  ApplyUntil(Plan({{1, 1}, {2, 3}}), t, ready(1, 3));
  // Done: Deployment foohut-backend takes revision 2 over; foohut-backend-r2
  // goes once it has rolled out.
  // The hand-over shows the plan's three replicas, not both Deployments' pods.
  ApplyUntil(Plan({{2, 3}}), t, [&](const runtime::Observation& o) {
    // The stable's revision-1 pods, which its own rolling update replaces,
    // are leaving: a rollout starting now must not plan to keep them.
    EXPECT_EQ(Count(o, 1, runtime::ReplicaState::kReady), 0);
    EXPECT_LE(Pods(o, 2) - Count(o, 2, runtime::ReplicaState::kDraining), 3) << [&] {
      std::string s;
      for (const auto& r : o.replicas) absl::StrAppend(&s, r.name, " ", r.revision, " ", std::string(runtime::ReplicaStateName(r.state)), "\n");
      return s + testbed->Kubectl({"-n", ns_, "get", "deploy,rs,pods", "-o", "wide"}).value_or("");
    }();
    return Pods(o, 1) == 0 && Pods(o, 2) == 3 && Names("deployments").size() == 1;
  });
  EXPECT_EQ(Names("deployments"), std::vector<std::string>{"foohut-backend"});
  const json d = Get("deployment/foohut-backend");
  EXPECT_EQ(d["metadata"]["annotations"]["hut.foohut.dev/revision"], "2");
  EXPECT_EQ(d["spec"]["template"]["metadata"]["labels"]["hut.foohut.dev/revision"], "2");
  EXPECT_EQ(Names("services"), (std::vector<std::string>{"foohut-backend", "foohut-backend-r2"}));
  EXPECT_EQ(RouteWeights(), (std::map<std::string, int>{{"foohut-backend-r2", 3}}));

  // kubectl rollout undo, the ADR's manual rollback: hut sees it, says so
  // once, and follows it rather than putting revision 2 back.
  changes_.clear();
  ASSERT_TRUE(testbed->Kubectl({"-n", ns_, "rollout", "undo", "deployment/foohut-backend"}).ok());
  ApplyUntil(Plan({{2, 3}}), t, [](const runtime::Observation& o) {
    return Count(o, 1, runtime::ReplicaState::kReady) == 3 && Pods(o, 2) == 0;
  });
  int out_of_band = 0;
  for (const auto& c : changes_) out_of_band += c.type == "kubernetes.out_of_band";
  EXPECT_EQ(out_of_band, 1);
  EXPECT_EQ(Get("deployment/foohut-backend")["spec"]["template"]["metadata"]["labels"]
                ["hut.foohut.dev/revision"], "1");
  EXPECT_EQ(RouteWeights()["foohut-backend-r1"], 3);
}

TEST_F(KubernetesRuntimeTest, CanarySetsTheRouteWeightsAndZeroTakesItOut) {
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1)}, {2, Template(2)}};
  ApplyUntil(Plan({{1, 3, 1.0}}, true), t,
             [](const auto& o) { return Count(o, 1, runtime::ReplicaState::kReady) == 3; });
  runtime::Observation o = ApplyUntil(Plan({{1, 3, 0.9}, {2, 1, 0.1}}, true), t, [](const auto& o) {
    return Count(o, 2, runtime::ReplicaState::kReady) == 1 && o.traffic.size() == 2;
  });
  EXPECT_EQ(RouteWeights(), (std::map<std::string, int>{{"foohut-backend-r1", 90}, {"foohut-backend-r2", 10}}));
  EXPECT_NEAR(o.traffic[2], 0.1, 1e-9);

  // A bad canary: share 0 at once (one Apply), its pod kept for inspection.
  runtime::ApplyResult r = rt_->Apply("backend", Plan({{1, 3, 1.0}, {2, 1, 0.0}}, true), t);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(RouteWeights(), (std::map<std::string, int>{{"foohut-backend-r1", 100}, {"foohut-backend-r2", 0}}));
}

TEST_F(KubernetesRuntimeTest, NeverReadyPodsFailAfterTheStartPeriod) {
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1)},
                                                {3, Template(3, "kwok.test/never-ready")}};
  ApplyUntil(Plan({{1, 3}}), t,
             [](const auto& o) { return Count(o, 1, runtime::ReplicaState::kReady) == 3; });
  runtime::Observation o = ApplyUntil(Plan({{1, 3}, {3, 1}}), t, [](const auto& o) {
    return Count(o, 3, runtime::ReplicaState::kFailing) == 1;
  });
  for (const auto& r : o.replicas) {
    if (r.revision == 3) {
      EXPECT_THAT(r.reason, HasSubstr("not ready"));
    }
  }
  // Never in the route while not ready.
  EXPECT_EQ(RouteWeights()["foohut-backend-r3"], 0);
  // Rolled back: the revision and everything of it goes.
  ApplyUntil(Plan({{1, 3}}), t, [&](const auto& o) { return Pods(o, 3) == 0; });
  EXPECT_EQ(Names("deployments"), std::vector<std::string>{"foohut-backend"});
  EXPECT_EQ(Names("services"), (std::vector<std::string>{"foohut-backend", "foohut-backend-r1"}));
}

TEST_F(KubernetesRuntimeTest, AnImageThatCannotBePulledCannotStart) {
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1, "kwok.test/unpullable")}};
  runtime::Observation o = ApplyUntil(Plan({{1, 1}}), t, [](const auto& o) {
    return o.cannot_start.contains(1);
  });
  EXPECT_THAT(o.cannot_start[1], HasSubstr("ImagePullBackOff"));
  EXPECT_THAT(o.cannot_start[1], HasSubstr("kwok.test/unpullable:v1"));
}

TEST_F(KubernetesRuntimeTest, ReplicasRouterHasNoRouteAndSpreadsByPods) {
  Load("replicas");
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1)}, {2, Template(2)}};
  runtime::Observation o = ApplyUntil(Plan({{1, 3}, {2, 1}}), t, [](const auto& o) {
    return Count(o, 1, runtime::ReplicaState::kReady) == 3 &&
           Count(o, 2, runtime::ReplicaState::kReady) == 1;
  });
  EXPECT_TRUE(Names("httproutes").empty());
  EXPECT_NEAR(o.traffic[2], 0.25, 1e-9);
}

TEST_F(KubernetesRuntimeTest, AMissingNamespaceIsAClearError) {
  ASSERT_TRUE(testbed->Kubectl({"delete", "namespace", ns_, "--wait=false"}).ok());
  std::string yaml = SpecYaml("no-such-namespace", "gateway-api");
  spec::LoadResult loaded = spec::ParseSpec(yaml, "test.yaml");
  ASSERT_TRUE(loaded.ok());
  auto access = LoadKubeconfig(testbed->kubeconfig());
  ASSERT_TRUE(access.ok());
  auto rt = KubernetesRuntime::Start(*loaded.spec, *loaded.spec->FindEnvironment("production"),
                                     *access, clock_);
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(rt.status().message(), HasSubstr("namespace no-such-namespace does not exist"));
}

TEST_F(KubernetesRuntimeTest, AnUnreachableServerPausesWithTheReasonAndWritesNothing) {
  auto access = LoadKubeconfig(testbed->kubeconfig());
  ASSERT_TRUE(access.ok());
  access->server = absl::StrCat("https://127.0.0.1:", testing::PickFreePort());
  KubernetesRuntimeOptions options;
  options.sync_timeout = milliseconds(300);
  options.request_timeout = milliseconds(500);
  auto rt = KubernetesRuntime::Start(*spec_, *env_, *access, clock_, options);
  ASSERT_TRUE(rt.ok()) << rt.status();
  auto observed = (*rt)->Observe("backend");
  ASSERT_FALSE(observed.ok());
  EXPECT_EQ(observed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(observed.status().message(), HasSubstr("is not known"));
  runtime::ApplyResult r = (*rt)->Apply("backend", Plan({{1, 3}}), {{1, Template(1)}});
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ((*rt)->api_counts().writes, 0u);
}

TEST_F(KubernetesRuntimeTest, ATokenWithoutRightsIsRefusedAtStart) {
  ASSERT_TRUE(testbed->Kubectl({"-n", ns_, "create", "serviceaccount", "nobody"}).ok());
  auto token = testbed->Kubectl({"-n", ns_, "create", "token", "nobody"});
  ASSERT_TRUE(token.ok()) << token.status();
  auto access = LoadKubeconfig(testbed->kubeconfig());
  ASSERT_TRUE(access.ok());
  access->token = std::string(absl::StripAsciiWhitespace(*token));
  auto rt = KubernetesRuntime::Start(*spec_, *env_, *access, clock_);
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.status().code(), absl::StatusCode::kPermissionDenied) << rt.status();
  EXPECT_THAT(rt.status().message(), HasSubstr("forbidden"));
}

TEST_F(KubernetesRuntimeTest, AlbRouterRewritesOnlyTheChartIngresssForwardAction) {
  Load("alb");
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1)}, {2, Template(2)}};
  // Without the chart's Ingress: a clear error (hut patches it, never creates it).
  runtime::ApplyResult missing = rt_->Apply("backend", Plan({{1, 3, 1.0}}, true), t);
  EXPECT_EQ(missing.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status.message(), HasSubstr("no Ingress foohut-backend"));

  // The Ingress as k8s/charts renders it with router.kind alb.
  const std::string file = testbed->dir() + "/ingress.yaml";
  std::ofstream(file) << R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: foohut-backend
  labels: {app.kubernetes.io/name: foohut-backend, hut.foohut.dev/service: backend}
  annotations:
    alb.ingress.kubernetes.io/scheme: internet-facing
    alb.ingress.kubernetes.io/actions.foohut-backend: >-
      {"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"foohut-backend","servicePort":"8080","weight":100}]}}
spec:
  ingressClassName: alb
  rules:
    - host: foohut.com
      http:
        paths:
          - path: /api
            pathType: Prefix
            backend: {service: {name: foohut-backend, port: {name: use-annotation}}}
)";
  auto applied = testbed->Kubectl({"-n", ns_, "apply", "-f", file});
  ASSERT_TRUE(applied.ok()) << applied.status();
  runtime::Observation o = ApplyUntil(Plan({{1, 3, 0.9}, {2, 1, 0.1}}, true), t, [](const auto& o) {
    return Count(o, 1, runtime::ReplicaState::kReady) == 3 &&
           Count(o, 2, runtime::ReplicaState::kReady) == 1 && o.traffic.size() == 2;
  });
  EXPECT_NEAR(o.traffic[2], 0.1, 1e-9);
  const json ingress = Get("ingress/foohut-backend");
  const json& annotations = ingress["metadata"]["annotations"];
  const json action = json::parse(
      annotations["alb.ingress.kubernetes.io/actions.foohut-backend"].get<std::string>());
  std::map<std::string, int> weights;
  for (const json& g : action["forwardConfig"]["targetGroups"]) {
    weights[g["serviceName"]] = g["weight"];
    EXPECT_EQ(g["servicePort"], "8080");
  }
  EXPECT_EQ(weights,
            (std::map<std::string, int>{{"foohut-backend-r1", 90}, {"foohut-backend-r2", 10}}));
  EXPECT_EQ(action["type"], "forward");
  // The chart's own fields stay as they were.
  EXPECT_EQ(annotations["alb.ingress.kubernetes.io/scheme"], "internet-facing");
  EXPECT_EQ(ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["name"],
            "use-annotation");
  EXPECT_EQ(ingress["spec"]["ingressClassName"], "alb");
}

TEST_F(KubernetesRuntimeTest, AConflictOnTheStableDeploymentIsDecidedAgain) {
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1)}};
  ApplyUntil(Plan({{1, 3}}), t,
             [](const auto& o) { return Count(o, 1, runtime::ReplicaState::kReady) == 3; });
  Informer& cache = rt_->deployments_cache_for_testing();
  const json before = *cache.Get("backend", "foohut-backend");
  // Someone writes the Deployment; hut's cache sees it...
  ASSERT_TRUE(testbed->Kubectl({"-n", ns_, "annotate", "deployment/foohut-backend",
                                "example.com/note=someone"}).ok());
  for (int i = 0; i < 100 && cache.Get("backend", "foohut-backend")->at("metadata")
                                     .at("resourceVersion") == before["metadata"]["resourceVersion"];
       ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  // ...and is put back to the version before it, as if the watch lagged.
  cache.Remember(before);
  const uint64_t errors = rt_->api_counts().errors;
  runtime::ApplyResult r = rt_->Apply("backend", Plan({{1, 4}}), t);
  EXPECT_TRUE(r.status.ok()) << r.status;
  // The 409, then the same Apply decided again (once more if the Deployment
  // controller wrote the status in between: the precondition covers it too).
  EXPECT_GE(rt_->api_counts().errors, errors + 1);
  const json d = Get("deployment/foohut-backend");
  EXPECT_EQ(d["spec"]["replicas"], 4);
  EXPECT_EQ(d["metadata"]["annotations"]["example.com/note"], "someone");
}

// The chart's HPA scales the service's ServiceScale, not a Deployment: hut
// reads the count from it (clamped to the spec's range) and is the only
// writer of every Deployment's replicas, so the two never fight. The real
// HPA controller of kube-controller-manager drives it here (kwok's pods have
// no metrics: it enforces its minReplicas, which needs none).
TEST_F(KubernetesRuntimeTest, TheHpaScalesTheServiceScaleAndOnlyHutScalesDeployments) {
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1)}};
  runtime::Observation o = ApplyUntil(Plan({{1, 3}}), t, [](const auto& o) {
    return Count(o, 1, runtime::ReplicaState::kReady) == 3;
  });
  EXPECT_EQ(o.scale, 3);
  json scale = Get("servicescale/foohut-backend");
  EXPECT_EQ(scale["spec"]["replicas"], 3);
  EXPECT_EQ(scale["status"]["replicas"], 3);
  EXPECT_EQ(scale["status"]["selector"], "app.kubernetes.io/name=foohut-backend");

  auto scale_until = [&](int want) {
    std::optional<int> seen;
    for (int i = 0; i < 600; ++i) {  // the HPA syncs every 15 s
      auto observed = rt_->Observe("backend");
      if (observed.ok() && (seen = observed->scale) == want) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ADD_FAILURE() << "scale " << (seen ? std::to_string(*seen) : "none") << ", want " << want;
    return false;
  };
  // Its scale subresource, as an autoscaler writes it; beyond the spec's
  // maximum (20) is clamped.
  ASSERT_TRUE(testbed->Kubectl({"-n", ns_, "scale", "servicescale/foohut-backend", "--replicas=5"}).ok());
  EXPECT_TRUE(scale_until(5));
  ASSERT_TRUE(testbed->Kubectl({"-n", ns_, "scale", "servicescale/foohut-backend", "--replicas=50"}).ok());
  EXPECT_TRUE(scale_until(20));

  // The real HPA, with the chart's shape and a minimum above the count.
  const std::string hpa = ::testing::TempDir() + "/hpa-" + ns_ + ".yaml";
  std::ofstream(hpa) << absl::StrCat(R"(
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: foohut-backend, namespace: )", ns_, R"(}
spec:
  scaleTargetRef: {apiVersion: hut.foohut.dev/v1, kind: ServiceScale, name: foohut-backend}
  minReplicas: 6
  maxReplicas: 8
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
)");
  ASSERT_TRUE(testbed->Kubectl({"-n", ns_, "scale", "servicescale/foohut-backend", "--replicas=4"}).ok());
  ASSERT_TRUE(scale_until(4));
  ASSERT_TRUE(testbed->Kubectl({"apply", "-f", hpa}).ok());
  ASSERT_TRUE(scale_until(6));
  // What the controller then plans: the HPA's count, carried by hut.
  o = ApplyUntil(Plan({{1, 6}}), t, [](const auto& o) {
    return Count(o, 1, runtime::ReplicaState::kReady) == 6;
  });
  const json d = Get("deployment/foohut-backend");
  EXPECT_EQ(d["spec"]["replicas"], 6);
  for (const json& m : d["metadata"]["managedFields"]) {
    if (m["manager"] != "hut" && m.contains("fieldsV1")) {
      EXPECT_FALSE(m["fieldsV1"].value("f:spec", json::object()).contains("f:replicas"))
          << m["manager"] << " set foohut-backend's replicas";
    }
  }
  scale = Get("servicescale/foohut-backend");
  EXPECT_EQ(scale["status"]["replicas"], 6);
  const json status = Get("hpa/foohut-backend")["status"];
  EXPECT_EQ(status["desiredReplicas"], 6) << status.dump();
}

// Autoscaling on and no ServiceScale served: Start says what to install.
TEST_F(KubernetesRuntimeTest, AutoscalingWithoutHutsCrdIsAClearError) {
  const std::string crd = testing::SourceDir() + "/k8s/charts/hut/crds/servicescales.yaml";
  ASSERT_TRUE(testbed->Kubectl({"delete", "-f", crd, "--wait=true"}).ok());
  auto access = LoadKubeconfig(testbed->kubeconfig());
  ASSERT_TRUE(access.ok()) << access.status();
  auto rt = KubernetesRuntime::Start(*spec_, *env_, *access, clock_);
  // Back for the tests after this one, before any assertion can return.
  ASSERT_TRUE(testbed->Kubectl({"apply", "--server-side", "-f", crd}).ok());
  ASSERT_TRUE(testbed->Kubectl({"wait", "--for=condition=Established",
                                "crd/servicescales.hut.foohut.dev", "--timeout=60s"}).ok());
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(rt.status().message(), HasSubstr("does not serve ServiceScale"));
  EXPECT_THAT(rt.status().message(), HasSubstr("kubectl apply -f k8s/charts/hut/crds/"));
}

// A real Prometheus with the configuration hut generates for a Kubernetes
// environment (kubernetes_sd against the testbed's API server) finds every
// pod of hut's Deployments with the labels of the contract the canary
// analysis and the rules select by. (kwok's pods serve nothing: the targets
// are found and labelled, their scrapes fail.)
TEST_F(KubernetesRuntimeTest, PrometheusFindsEveryPodWithTheContractsLabels) {
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1)}, {2, Template(2)}};
  ApplyUntil(Plan({{1, 3, 0.9}, {2, 1, 0.1}}), t, [](const auto& o) {
    return Count(o, 1, runtime::ReplicaState::kReady) == 3 &&
           Count(o, 2, runtime::ReplicaState::kReady) == 1;
  });
  auto access = LoadKubeconfig(testbed->kubeconfig());
  ASSERT_TRUE(access.ok()) << access.status();
  ::hut::testing::TempDir dir;
  monitoring::PrometheusConfigOptions c;
  c.environment = "production";
  c.pods = monitoring::KubernetesPods{.namespace_ = ns_,
                                      .hut_namespace = "",
                                      .api_server = access->server,
                                      .ca_file = testbed->dir() + "/pki/ca.crt",
                                      .token_file = testbed->dir() + "/pki/admin.token"};
  local::PrometheusOptions o;
  o.binary = testbed->bin() + "/prometheus";  // Debian's has no kubernetes_sd
  o.dir = dir.path();
  o.port = ::hut::testing::PickFreePort();
  o.config = monitoring::PrometheusConfig(c);
  auto prometheus = local::PrometheusServer::Start(o);
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  std::map<std::string, json> targets;  // pod -> labels
  std::string answer;
  for (int i = 0; i < 100 && targets.size() < 4; ++i) {
    std::this_thread::sleep_for(milliseconds(200));
    auto r = http::Fetch({.port = o.port, .target = "/api/v1/targets"});
    ASSERT_TRUE(r.ok()) << r.status();
    answer = r->body;
    targets.clear();
    const json body = json::parse(r->body);
    for (const json& target : body["data"]["activeTargets"]) {
      targets[target["labels"]["pod"]] = target["labels"];
    }
  }
  const json pods = json::parse(*testbed->Kubectl({"-n", ns_, "get", "pods", "-o", "json"}));
  ASSERT_EQ(targets.size(), pods["items"].size())
      << answer << "\n" << local::TailOfFile(dir.path() + "/prometheus.log", 3000);
  for (const json& pod : pods["items"]) {
    const std::string name = pod["metadata"]["name"];
    ASSERT_TRUE(targets.contains(name)) << name;
    const json& labels = targets[name];
    const int revision = std::stoi(pod["metadata"]["labels"]["hut.foohut.dev/revision"].get<std::string>());
    EXPECT_EQ(labels["namespace"], ns_);
    EXPECT_EQ(labels["service"], "backend");
    EXPECT_EQ(labels["revision"], std::to_string(revision));
    EXPECT_EQ(labels["version"], absl::StrCat("v", revision));
    EXPECT_EQ(labels["environment"], "production");
    EXPECT_EQ(labels["job"], "pods");
    EXPECT_THAT(labels["instance"].get<std::string>(), ::testing::EndsWith(":8080"));
  }
}

TEST_F(KubernetesRuntimeTest, AnApiServerRestartAndTheExpiredWatchesAreSurvived) {
  StartRuntime();
  std::map<int, runtime::RevisionTemplate> t = {{1, Template(1)}};
  ApplyUntil(Plan({{1, 2}}), t,
             [](const auto& o) { return Count(o, 1, runtime::ReplicaState::kReady) == 2; });
  const Informer::Stats before = rt_->cache_stats();
  ASSERT_TRUE(testbed->RestartApiServer().ok());
  // The caches watch again (or list again, after 410 Gone) and are current.
  // Up to 60 s: on a loaded machine the restarted server cut a watch again
  // ("Transferred a partial file") for more than 30 s once (2026-12-08).
  absl::StatusOr<runtime::Observation> o;
  for (int i = 0; i < 600; ++i) {
    o = rt_->Observe("backend");
    if (o.ok() && rt_->cache_stats().watches >= before.watches + 4) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(o.ok()) << o.status();
  const Informer::Stats after = rt_->cache_stats();
  EXPECT_GE(after.watches, before.watches + 4);  // one more per cache at least
  // The restarted server's watch cache starts at etcd's current version, so
  // the versions the watches were at are gone (410): each cache lists again.
  EXPECT_GE(after.relists_after_gone, before.relists_after_gone + 1);
  EXPECT_EQ(after.lists - before.lists, after.relists_after_gone - before.relists_after_gone);
  EXPECT_EQ(Count(*o, 1, runtime::ReplicaState::kReady), 2);
  // And the next plan is carried out as before.
  ApplyUntil(Plan({{1, 3}}), t,
             [](const auto& o) { return Count(o, 1, runtime::ReplicaState::kReady) == 3; });
  const uint64_t writes = rt_->api_counts().writes;
  runtime::ApplyResult again = rt_->Apply("backend", Plan({{1, 3}}), t);
  EXPECT_TRUE(again.status.ok()) << again.status;
  EXPECT_EQ(rt_->api_counts().writes, writes);
}

// The Secrets and the ConfigMap of ADR-009 on the real API server: made with
// the right keys, then a hand edit, an extra key and a deletion are each put
// back by the next reconcile, which otherwise writes nothing.
TEST_F(KubernetesRuntimeTest, TheSecretsAndConfigMapAreMadeAndHandEditsPutBack) {
  auto access = LoadKubeconfig(testbed->kubeconfig());
  ASSERT_TRUE(access.ok()) << access.status();
  ApiClient api(*access);
  ConfigSync sync(api, ns_, {{"app.kubernetes.io/managed-by", "hut"}});
  const std::string password = "pw-" + std::to_string(getpid());  // pragma: allowlist secret (test fixture)
  auto desired = DesiredObjects({*spec_, *env_}, [&](const std::string& secret) -> absl::StatusOr<Secret> {
    if (secret == "database") {  // pragma: allowlist secret (test fixture)
      return Secret(json{{"engine", "postgres"}, {"username", "foohut"}, {"password", password}}.dump());
    }
    if (secret == "jwt") return Secret(R"({"active_kid":"k1","keys":{"k1":"a2V5"}})");  // pragma: allowlist secret (test fixture)
    return absl::NotFoundError("none");
  });
  ASSERT_TRUE(desired.ok()) << desired.status();
  auto first = sync.Reconcile(*desired);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->size(), 4u);
  for (const SyncChange& c : *first) EXPECT_TRUE(c.created) << c.object;
  const auto data = [this](const std::string& what) {
    json d = Get(what)["data"];
    return d.is_object() ? d : json::object();
  };
  EXPECT_EQ(Base64Decode(data("secret/database-credentials")["password"].get<std::string>()).value_or(""),
            password);
  EXPECT_EQ(Base64Decode(data("secret/database-credentials")["username"].get<std::string>()).value_or(""),
            "foohut");
  EXPECT_TRUE(data("secret/jwt-secrets").contains("jwt-keys.json"));
  EXPECT_TRUE(data("secret/third-party-api-keys").empty());
  EXPECT_EQ(data("configmap/foohut-config")["FOOHUT_ENV"], "production");
  EXPECT_EQ(Get("secret/jwt-secrets")["metadata"]["labels"]["app.kubernetes.io/managed-by"], "hut");

  // Nothing changed: reads only.
  const uint64_t writes = api.counts().writes;
  auto quiet = sync.Reconcile(*desired);
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  EXPECT_TRUE(quiet->empty());
  EXPECT_EQ(api.counts().writes, writes);

  // By hand: a password changed, a key added to the ConfigMap, a Secret deleted.
  ASSERT_TRUE(testbed->Kubectl({"-n", ns_, "patch", "secret", "database-credentials", "--type=merge",
                                "-p", R"({"stringData":{"password":"edited"}})"}).ok());  // pragma: allowlist secret (test fixture)
  ASSERT_TRUE(testbed->Kubectl({"-n", ns_, "patch", "configmap", "foohut-config", "--type=merge",
                                "-p", R"({"data":{"EXTRA":"1"}})"}).ok());
  ASSERT_TRUE(testbed->Kubectl({"-n", ns_, "delete", "secret", "jwt-secrets"}).ok());
  auto back = sync.Reconcile(*desired);
  ASSERT_TRUE(back.ok()) << back.status();
  std::map<std::string, std::string> what;
  for (const SyncChange& c : *back) what[c.object] = c.what;
  EXPECT_EQ(what["Secret/database-credentials"], "keys edited by hand: password; put back");
  EXPECT_EQ(what["ConfigMap/foohut-config"], "keys edited by hand: EXTRA; put back");
  EXPECT_EQ(what["Secret/jwt-secrets"], "deleted by hand; made again");
  EXPECT_EQ(what.size(), 3u);
  EXPECT_EQ(Base64Decode(data("secret/database-credentials")["password"].get<std::string>()).value_or(""),
            password);
  EXPECT_FALSE(data("configmap/foohut-config").contains("EXTRA"));
  EXPECT_TRUE(data("secret/jwt-secrets").contains("jwt-keys.json"));
  for (const SyncChange& c : *back) {
    EXPECT_EQ(c.what.find(password), std::string::npos) << "a value in a report";
  }
}

}  // namespace
}  // namespace hut::kubernetes
