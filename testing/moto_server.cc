#include "testing/moto_server.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/common/status.h"
#include "src/http/client.h"

namespace hut::testing {
namespace {

constexpr int kSetupRequests = 3;  // CreateUser, PutUserPolicy, CreateAccessKey

}  // namespace

absl::StatusOr<std::unique_ptr<MotoServer>> MotoServer::Start(Options options) {
  std::unique_ptr<MotoServer> m(new MotoServer());
  ProcessOptions install;
  install.argv = {"bash", SourceDir() + "/scripts/moto.sh", "bin"};
  auto bin = RunCommand(install, std::chrono::minutes(10));
  if (!bin.ok()) return bin.status();
  if (!bin->status.success()) {
    return absl::FailedPreconditionError(absl::StrCat("scripts/moto.sh bin: ", bin->output));
  }
  // The last line is the path; pip may have said more before it.
  std::string path(absl::StripAsciiWhitespace(bin->output));
  path = path.substr(path.rfind('\n') + 1);
  m->port_ = PickFreePort();
  ProcessOptions run;
  run.argv = {path, "-H", "127.0.0.1", "-p", std::to_string(m->port_)};
  // Requests after these are authenticated: the user, its policy, its key.
  if (options.authenticate) {
    run.env = {{"INITIAL_NO_AUTH_ACTION_COUNT", std::to_string(kSetupRequests)}};
  }
  run.stdout_mode = run.stderr_mode = OutputMode::kFile;
  run.stdout_path = run.stderr_path = m->dir_.path() + "/moto.log";
  HUT_ASSIGN_OR_RETURN(m->process_, Process::Spawn(run));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    http::ClientRequest probe;
    probe.port = m->port_;
    probe.target = "/moto-api/data.json";
    if (auto r = http::Fetch(probe); r.ok() && r->status == 200) {
      if (options.authenticate) {
        HUT_RETURN_IF_ERROR(m->CreateUser());
      } else {
        m->access_key_id_ = "AKIAHUTTEST";  // any will do
        m->secret_access_key_ = "hut-test-secret";  // pragma: allowlist secret (moto takes any key)
      }
      return m;
    }
    if (auto exited = m->process_->TryWait()) {
      return absl::UnavailableError(absl::StrCat("moto_server exited (", exited->ToString(),
                                                 "); see ", run.stdout_path));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError("moto_server did not answer within 30 s");
}

absl::Status MotoServer::CreateUser() {
  const auto iam = [this](const std::string& form) -> absl::StatusOr<std::string> {
    http::ClientRequest r;
    r.method = "POST";
    r.port = port_;
    r.target = "/";
    r.headers.emplace("Content-Type", "application/x-www-form-urlencoded");
    // Unsigned, as these requests need not be; moto still wants the service named.
    r.headers.emplace("Authorization",
                      "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, "
                      "SignedHeaders=host, Signature=0");
    r.body = form + "&Version=2010-05-08";
    HUT_ASSIGN_OR_RETURN(http::ClientResponse answer, http::Fetch(r));
    if (answer.status != 200) {
      return absl::InternalError(absl::StrCat("moto IAM ", form, ": HTTP ", answer.status, ": ",
                                              answer.body));
    }
    return answer.body;
  };
  HUT_RETURN_IF_ERROR(iam("Action=CreateUser&UserName=hut").status());
  HUT_RETURN_IF_ERROR(
      iam("Action=PutUserPolicy&UserName=hut&PolicyName=all&PolicyDocument="
          "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A"
          "%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D")
          .status());
  HUT_ASSIGN_OR_RETURN(std::string key, iam("Action=CreateAccessKey&UserName=hut"));
  const auto field = [&key](const std::string& name) {
    const size_t start = key.find("<" + name + ">");
    const size_t end = key.find("</" + name + ">");
    if (start == std::string::npos || end == std::string::npos) return std::string();
    return key.substr(start + name.size() + 2, end - start - name.size() - 2);
  };
  access_key_id_ = field("AccessKeyId");
  secret_access_key_ = field("SecretAccessKey");
  if (access_key_id_.empty() || secret_access_key_.empty()) {
    return absl::InternalError(absl::StrCat("moto CreateAccessKey: no key in ", key));
  }
  return absl::OkStatus();
}

MotoServer::~MotoServer() {
  if (process_) process_->Stop(std::chrono::seconds(5));
}

std::string MotoServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

std::map<std::string, std::string> MotoServer::Env() const {
  return {{"AWS_ENDPOINT_URL", url()},
          {"AWS_REGION", "us-east-1"},
          {"AWS_ACCESS_KEY_ID", access_key_id_},
          {"AWS_SECRET_ACCESS_KEY", secret_access_key_}};
}

std::optional<std::string> MotoServer::GetEnv(const std::string& name) const {
  const auto env = Env();
  if (auto it = env.find(name); it != env.end()) return it->second;
  return std::nullopt;
}

}  // namespace hut::testing
