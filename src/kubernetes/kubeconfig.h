#ifndef HUT_KUBERNETES_KUBECONFIG_H_
#define HUT_KUBERNETES_KUBECONFIG_H_

// How to reach a Kubernetes API server, as kubectl finds it: a kubeconfig
// file (--kubeconfig, else the first file of $KUBECONFIG, else
// ~/.kube/config), else the in-cluster service account (token and CA mounted
// into the pod, KUBERNETES_SERVICE_HOST/PORT).

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hut::kubernetes {

struct ClusterAccess {
  std::string server;     // "https://127.0.0.1:6443"
  std::string ca_pem;     // CA bundle the server's certificate must chain to; "": system CAs
  std::string token;      // bearer token; "" when the client authenticates by certificate
  std::string token_file; // re-read per request when set (projected tokens rotate)
  std::string client_cert_pem;
  std::string client_key_pem;
  bool insecure_skip_tls_verify = false;
  std::string default_namespace;  // the context's namespace; "" when none
  std::string source;             // "kubeconfig /root/.kube/config (context admin)", for errors
};

// The user's choice: `flag` when not empty, else $KUBECONFIG, ~/.kube/config,
// then in-cluster. NotFound, naming each place looked at, when none exists.
absl::StatusOr<ClusterAccess> FindClusterAccess(const std::string& flag);

// One kubeconfig file's current context (or `context` when not empty).
// Relative file paths in it resolve against the file's folder. An
// InvalidArgument names the file and the field that is wrong.
absl::StatusOr<ClusterAccess> LoadKubeconfig(const std::string& path, std::string_view context = "");
absl::StatusOr<ClusterAccess> ParseKubeconfig(std::string_view yaml, const std::string& path,
                                              std::string_view context = "");

// The pod's service account: `dir` holds token, ca.crt and namespace.
absl::StatusOr<ClusterAccess> InClusterAccess(
    const std::string& dir = "/var/run/secrets/kubernetes.io/serviceaccount");

}  // namespace hut::kubernetes

#endif  // HUT_KUBERNETES_KUBECONFIG_H_
