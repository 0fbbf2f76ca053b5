#ifndef HUT_KUBERNETES_KUBERNETES_RUNTIME_H_
#define HUT_KUBERNETES_KUBERNETES_RUNTIME_H_

// The Runtime seam on a Kubernetes cluster (docs/kubernetes.md): a service's
// stable revision runs in Deployment foohut-S, every other revision with
// replicas in its own Deployment foohut-S-rN, and an HTTPRoute weighs their
// Services. What it knows of the cluster comes from watch-fed caches
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
  std::unique_ptr<Informer> deployments_, pods_, services_, routes_;
  absl::Mutex apply_mu_;  // one Apply at a time: each reads the caches it then changes
  // Out-of-band changes already reported, by service: the template revision seen.
  std::map<std::string, int> reported_out_of_band_ ABSL_GUARDED_BY(apply_mu_);
};

}  // namespace hut::kubernetes

#endif  // HUT_KUBERNETES_KUBERNETES_RUNTIME_H_
