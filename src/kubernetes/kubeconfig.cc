#include "src/kubernetes/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/common/base64.h"
#include "src/common/resources.h"
#include "src/common/status.h"

namespace hut::kubernetes {
namespace {

namespace fs = std::filesystem;
constexpr size_t kMaxFile = 1 << 20;

// The named entry of a kubeconfig list (`clusters`, `users`, `contexts`).
YAML::Node Entry(const YAML::Node& root, const char* list, const std::string& name) {
  const YAML::Node items = root[list];
  if (!items.IsSequence()) return {};
  for (const YAML::Node& item : items) {
    if (item["name"] && item["name"].as<std::string>() == name) return item;
  }
  return {};
}

class Reader {
 public:
  Reader(const std::string& path) : path_(path), dir_(fs::path(path).parent_path()) {}

  // `node[data_key]` (base64) or the file `node[file_key]`; "" when neither.
  absl::StatusOr<std::string> Material(const YAML::Node& node, const std::string& where,
                                       const char* data_key, const char* file_key) const {
    if (node[data_key]) {
      auto decoded = Base64Decode(node[data_key].as<std::string>());
      if (!decoded.ok()) return Error(absl::StrCat(where, ".", data_key), std::string(decoded.status().message()));
      return *decoded;
    }
    if (node[file_key]) {
      const std::string file = Resolve(node[file_key].as<std::string>());
      auto content = ReadFileCapped(file, kMaxFile);
      if (!content.ok()) return Error(absl::StrCat(where, ".", file_key), std::string(content.status().message()));
      return *content;
    }
    return std::string();
  }

  std::string Resolve(const std::string& file) const {
    if (file.empty() || fs::path(file).is_absolute()) return file;
    return (dir_ / file).string();
  }

  absl::Status Error(const std::string& field, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path_, ": ", field, ": ", what));
  }

 private:
  std::string path_;
  fs::path dir_;
};

}  // namespace

absl::StatusOr<ClusterAccess> ParseKubeconfig(std::string_view yaml, const std::string& path,
                                              std::string_view context_name) {
  Reader r(path);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return r.Error("YAML", e.what());
  }
  if (!root.IsMap()) return r.Error("top level", "is not a kubeconfig (no mapping)");
  try {
    std::string ctx_name(context_name);
    if (ctx_name.empty()) {
      if (!root["current-context"]) return r.Error("current-context", "is not set");
      ctx_name = root["current-context"].as<std::string>();
    }
    const YAML::Node ctx = Entry(root, "contexts", ctx_name);
    if (!ctx || !ctx["context"]) return r.Error("contexts", absl::StrCat("no context named ", ctx_name));
    const std::string cluster_name = ctx["context"]["cluster"].as<std::string>("");
    const std::string user_name = ctx["context"]["user"].as<std::string>("");
    const YAML::Node cluster = Entry(root, "clusters", cluster_name)["cluster"];
    if (!cluster) return r.Error("clusters", absl::StrCat("no cluster named ", cluster_name));

    ClusterAccess a;
    a.source = absl::StrCat("kubeconfig ", path, " (context ", ctx_name, ")");
    a.default_namespace = ctx["context"]["namespace"].as<std::string>("");
    a.server = cluster["server"].as<std::string>("");
    if (a.server.empty()) return r.Error(absl::StrCat("clusters.", cluster_name, ".server"), "is empty");
    if (!a.server.starts_with("https://") && !a.server.starts_with("http://")) {
      return r.Error(absl::StrCat("clusters.", cluster_name, ".server"),
                     absl::StrCat("\"", a.server, "\" is not an http(s) URL"));
    }
    a.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"].as<bool>(false);
    HUT_ASSIGN_OR_RETURN(a.ca_pem, r.Material(cluster, absl::StrCat("clusters.", cluster_name),
                                              "certificate-authority-data", "certificate-authority"));
    if (!user_name.empty()) {
      const YAML::Node user = Entry(root, "users", user_name)["user"];
      if (!user) return r.Error("users", absl::StrCat("no user named ", user_name));
      const std::string where = absl::StrCat("users.", user_name);
      if (user["exec"] || user["auth-provider"]) {
        return r.Error(where, "exec and auth-provider credentials are not supported; "
                              "use a token, a token file or a client certificate");
      }
      a.token = user["token"].as<std::string>("");
      if (user["tokenFile"]) a.token_file = r.Resolve(user["tokenFile"].as<std::string>());
      HUT_ASSIGN_OR_RETURN(a.client_cert_pem, r.Material(user, where, "client-certificate-data",
                                                         "client-certificate"));
      HUT_ASSIGN_OR_RETURN(a.client_key_pem,
                           r.Material(user, where, "client-key-data", "client-key"));
      if (a.client_cert_pem.empty() != a.client_key_pem.empty()) {
        return r.Error(where, "a client certificate needs its key, and a key its certificate");
      }
    }
    return a;
  } catch (const YAML::Exception& e) {
    return r.Error("YAML", e.what());
  }
}

absl::StatusOr<ClusterAccess> LoadKubeconfig(const std::string& path, std::string_view context) {
  auto text = ReadFileCapped(path, kMaxFile);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot read kubeconfig: ", text.status().message()));
  }
  return ParseKubeconfig(*text, path, context);
}

absl::StatusOr<ClusterAccess> InClusterAccess(const std::string& dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr) {
    return absl::NotFoundError("not in a cluster (KUBERNETES_SERVICE_HOST/PORT not set)");
  }
  ClusterAccess a;
  a.source = absl::StrCat("in-cluster service account (", dir, ")");
  const std::string h(host);
  a.server = absl::StrCat("https://", h.find(':') != std::string::npos ? "[" + h + "]" : h, ":", port);
  a.token_file = dir + "/token";
  HUT_ASSIGN_OR_RETURN(a.ca_pem, ReadFileCapped(dir + "/ca.crt", kMaxFile));
  if (auto ns = ReadFileCapped(dir + "/namespace", 256); ns.ok()) a.default_namespace = *ns;
  return a;
}

absl::StatusOr<ClusterAccess> FindClusterAccess(const std::string& flag) {
  if (!flag.empty()) return LoadKubeconfig(flag);
  std::vector<std::string> looked;
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    for (const std::string& file :
         std::vector<std::string>(absl::StrSplit(env, ':', absl::SkipEmpty()))) {
      if (fs::exists(file)) return LoadKubeconfig(file);
      looked.push_back(absl::StrCat("$KUBECONFIG's ", file));
    }
  }
  if (const char* home = std::getenv("HOME"); home != nullptr) {
    const std::string file = absl::StrCat(home, "/.kube/config");
    if (fs::exists(file)) return LoadKubeconfig(file);
    looked.push_back(file);
  }
  auto in_cluster = InClusterAccess();
  if (in_cluster.ok()) return in_cluster;
  looked.push_back(std::string(in_cluster.status().message()));
  return absl::NotFoundError(absl::StrCat("no Kubernetes credentials: give --kubeconfig FILE; looked at ",
                                          absl::StrJoin(looked, ", ")));
}

}  // namespace hut::kubernetes
