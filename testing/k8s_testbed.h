#ifndef HUT_TESTING_K8S_TESTBED_H_
#define HUT_TESTING_K8S_TESTBED_H_

// The real Kubernetes control plane of scripts/k8s-testbed.sh (kube-apiserver,
// etcd, controller-manager, scheduler, kwok) for tests: started in a fresh
// folder, stopped by the destructor.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "testing/test_env.h"

namespace hut::testing {

class K8sTestbed {
 public:
  // Builds what is missing (minutes, once per machine) and starts it.
  static absl::StatusOr<std::unique_ptr<K8sTestbed>> Start();
  ~K8sTestbed();

  const std::string& dir() const { return dir_.path(); }
  // The cache's bin folder: the control plane's binaries, kubectl, helm, and
  // an upstream prometheus and promtool (with Kubernetes service discovery).
  const std::string& bin() const { return bin_; }
  // Cluster-admin.
  std::string kubeconfig() const { return dir_.path() + "/kubeconfig"; }
  // kubectl ARGS as cluster-admin: its output (stdout and stderr), or an
  // error with that output when it exits non-zero.
  absl::StatusOr<std::string> Kubectl(const std::vector<std::string>& args) const;
  // Runs a shell command with the testbed's bin folder first in PATH and
  // KUBECONFIG set; its output, or an error with it.
  absl::StatusOr<std::string> Shell(const std::string& command) const;
  // Stops kube-apiserver and starts it again on the same port (its watches
  // end; the versions they were at may be gone); returns once it is ready.
  absl::Status RestartApiServer() const;

 private:
  K8sTestbed() = default;
  TempDir dir_;
  std::string bin_;
  bool up_ = false;
};

}  // namespace hut::testing

#endif  // HUT_TESTING_K8S_TESTBED_H_
