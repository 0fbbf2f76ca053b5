#include "testing/k8s_testbed.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace hut::testing {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// `command`'s output and exit status.
std::pair<std::string, int> Run(const std::string& command) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return {"popen failed", -1};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  return {out, pclose(p)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<K8sTestbed>> K8sTestbed::Start() {
  std::unique_ptr<K8sTestbed> tb(new K8sTestbed());
  const std::string script = Quote(SourceDir() + "/scripts/k8s-testbed.sh");
  auto [bin, bin_rc] = Run(absl::StrCat("bash ", script, " bin"));
  if (bin_rc != 0) return absl::FailedPreconditionError(absl::StrCat("k8s-testbed.sh bin: ", bin));
  tb->bin_ = std::string(absl::StripAsciiWhitespace(bin));
  auto [out, rc] = Run(absl::StrCat("bash ", script, " up ", Quote(tb->dir())));
  tb->up_ = true;  // down stops whatever part of it started
  if (rc != 0) return absl::UnavailableError(absl::StrCat("k8s-testbed.sh up failed:\n", out));
  return tb;
}

K8sTestbed::~K8sTestbed() {
  if (!up_) return;
  auto [out, rc] = Run(absl::StrCat("bash ", Quote(SourceDir() + "/scripts/k8s-testbed.sh"),
                                    " down ", Quote(dir())));
  if (rc != 0) fprintf(stderr, "k8s-testbed.sh down failed:\n%s\n", out.c_str());
}

absl::Status K8sTestbed::RestartApiServer() const {
  auto [out, rc] = Run(absl::StrCat("bash ", Quote(SourceDir() + "/scripts/k8s-testbed.sh"),
                                    " restart-apiserver ", Quote(dir())));
  if (rc != 0) return absl::UnavailableError(absl::StrCat("restart-apiserver failed:\n", out));
  return absl::OkStatus();
}

absl::StatusOr<std::string> K8sTestbed::Shell(const std::string& command) const {
  auto [out, rc] = Run(absl::StrCat("PATH=", Quote(bin_), ":\"$PATH\" KUBECONFIG=",
                                    Quote(kubeconfig()), " ", command));
  if (rc != 0) return absl::InternalError(absl::StrCat("`", command, "` failed:\n", out));
  return out;
}

absl::StatusOr<std::string> K8sTestbed::Kubectl(const std::vector<std::string>& args) const {
  std::string command = "kubectl";
  for (const std::string& a : args) absl::StrAppend(&command, " ", Quote(a));
  return Shell(command);
}

}  // namespace hut::testing
