#ifndef HUT_KUBERNETES_KUBERNETES_RUNTIME_H_
#define HUT_KUBERNETES_KUBERNETES_RUNTIME_H_

// The Runtime seam on a Kubernetes cluster (docs/kubernetes.md): a service's
// stable revision runs in Deployment foohut-S, every other revision with
// replicas in its own Deployment foohut-S-rN, and an HTTPRoute weighs their
// Services. With autoscaling on, the service's replica count is what the
// HPA sets on its ServiceScale (Observation::scale). What it knows of the cluster comes from watch-fed caches
// (informer.h); Observe() never calls the API, Apply() writes only what
// differs from what it applied before (server-side apply, field manager hut).

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/kubernetes/api_client.h"
#include "src/kubernetes/informer.h"
#include "src/kubernetes/kubeconfig.h"
#include "src/runtime/runtime.h"
#include "src/spec/spec.h"

namespace hut::kubernetes {

struct KubernetesRuntimeOptions {
  // How long Start() waits for the first lists before it goes on with caches
  // still filling (Observe() is Unavailable until they are).
  std::chrono::milliseconds sync_timeout{10'000};
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::seconds watch_timeout{300};
};

class KubernetesRuntime final : public runtime::Runtime {
 public:
  // Connects to the cluster and starts the caches of `environment`'s
  // namespace. A namespace that does not exist, credentials the server
  // refuses, or a Role without `list` fail here with the reason; a server
  // that cannot be reached does not (the caches keep trying).
  static absl::StatusOr<std::unique_ptr<KubernetesRuntime>> Start(
      const spec::Spec& spec, const spec::Environment& environment, ClusterAccess access,
      Clock& clock, KubernetesRuntimeOptions options = {});
  ~KubernetesRuntime() override;

  runtime::ApplyResult Apply(const std::string& service, const runtime::ServicePlan& plan,
                             const std::map<int, runtime::RevisionTemplate>& templates) override;
  absl::StatusOr<runtime::Observation> Observe(const std::string& service) override;

  const std::string& ns() const { return ns_; }
  RequestCounts api_counts() const { return api_.counts(); }
  // The caches' counters, summed.
  Informer::Stats cache_stats() const;
  // Tests: the Deployments' cache, to make it stale on purpose.
  Informer& deployments_cache_for_testing() { return *deployments_; }

 private:
  KubernetesRuntime(const spec::Spec& spec, const spec::Environment& environment,
                    ClusterAccess access, Clock& clock, KubernetesRuntimeOptions options);
  class Pass;
  // Empty when every cache is current, else what keeps one from it.
  std::string CacheProblem() const;

  const spec::Spec& spec_;
  const spec::Environment& env_;
  Clock& clock_;
  const KubernetesRuntimeOptions options_;
  const std::string ns_;
  ApiClient api_;
  std::unique_ptr<Informer> deployments_, pods_, services_;
  std::unique_ptr<Informer> routes_;     // router gateway-api: HTTPRoutes
  std::unique_ptr<Informer> ingresses_;  // router alb: Ingresses
  std::unique_ptr<Informer> scales_;     // autoscaling on: ServiceScales
  std::vector<Informer*> Caches() const;  // those there are
  absl::Mutex apply_mu_;  // one Apply at a time: each reads the caches it then changes
  // Out-of-band changes already reported, by service: the template revision seen.
  std::map<std::string, int> reported_out_of_band_ ABSL_GUARDED_BY(apply_mu_);

  // What the caches hold of `service` has changed since it was `version`.
  uint64_t VersionOf(const std::string& service) const;
  void Changed(const std::string& service);  // the caches' on_change; "": all
  // Per service, the last Apply that found nothing to do: the same plan and
  // templates over the same version of the caches skip the pass (at steady
  // state a tick costs a comparison, not a rebuild of every object).
  struct Settled {
    runtime::ServicePlan plan;
    std::map<int, runtime::RevisionTemplate> templates;
    uint64_t version = 0;
  };
  std::map<std::string, Settled> settled_ ABSL_GUARDED_BY(apply_mu_);
  // Per service, the last observation and the version it was made at, kept
  // while no replica is starting (the only state that changes with time
  // alone: a pod still not ready after its start period is failing).
  struct Observed {
    uint64_t version = 0;
    runtime::Observation observation;
  };
  absl::Mutex observed_mu_;
  std::map<std::string, Observed> observed_ ABSL_GUARDED_BY(observed_mu_);
  mutable absl::Mutex versions_mu_;
  uint64_t changes_ ABSL_GUARDED_BY(versions_mu_) = 0;
  uint64_t all_changed_at_ ABSL_GUARDED_BY(versions_mu_) = 0;
  std::map<std::string, uint64_t> changed_at_ ABSL_GUARDED_BY(versions_mu_);
};

}  // namespace hut::kubernetes

#endif  // HUT_KUBERNETES_KUBERNETES_RUNTIME_H_
