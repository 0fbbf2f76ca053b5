#include "src/cli/deploy.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "src/cli/api_client.h"
#include "src/cli/rollout.h"

namespace hut::cli {
namespace {

bool IsVariableName(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseSetFlags(
    const std::vector<std::string>& items) {
  std::map<std::string, std::string> env;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set \"", item, "\": expected VAR=VALUE (e.g. --set LOG_LEVEL=debug)"));
    }
    const std::string name = item.substr(0, eq);
    if (!IsVariableName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set \"", item, "\": \"", name,
                       "\" is not a variable name (letters, digits and _, not starting with a "
                       "digit)"));
    }
    env[name] = item.substr(eq + 1);
  }
  return env;
}

int RunDeploy(const DeployOptions& options, const Io& io) {
  const std::string command = "hut deploy";
  absl::StatusOr<std::map<std::string, std::string>> env = ParseSetFlags(options.set);
  if (!env.ok()) {
    io.err << command << ": " << env.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<ApiClient> client = Connect(options.environment, io);
  if (!client.ok()) return PrintError(command, client.status(), io);
  // Where the log ends now: the new rollout's events all come after it.
  absl::StatusOr<int64_t> after = client->FollowFrom(options.service, options.wait);
  if (!after.ok()) return PrintError(command, after.status(), io);
  DeployRequest request{options.version, *env, options.strategy};
  absl::StatusOr<nlohmann::json> answer = client->Deploy(options.service, request);
  if (!answer.ok()) return PrintError(command, answer.status(), io);
  return ReportStarted(*client, command, *answer, options.version, *after, options.wait,
                       options.json, io);
}

}  // namespace hut::cli
