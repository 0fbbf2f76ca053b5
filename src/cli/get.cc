#include "src/cli/get.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "src/cli/api_client.h"
#include "src/cli/output.h"

namespace hut::cli {
namespace {

using nlohmann::json;

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

void PrintServices(const json& answer, bool wide, const Io& io) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"NAME", "REVISION", "READY", "SERVING", "ROLLOUT", "PHASE"};
  if (wide) head.insert(head.end(), {"STRATEGY", "RUNNING", "WAITING"});
  rows.push_back(head);
  const json services = Field(answer, "services");
  for (const json& s : services.is_array() ? services : json::array()) {
    const json replicas = Field(s, "replicas");
    const json rollout = Field(s, "rollout");
    const int64_t current = Int(s, "current_revision");
    std::vector<std::string> row = {
        Str(s, "name"),
        current == 0 ? "-" : absl::StrCat(current),
        absl::StrCat(Int(replicas, "ready"), "/", Int(replicas, "desired")),
        absl::StrCat(Int(replicas, "serving")),
        rollout.is_object() ? absl::StrCat(Int(rollout, "id")) : "-",
        rollout.is_object() ? Str(rollout, "phase") : "-"};
    if (wide) {
      row.insert(row.end(), {OrDash(Str(rollout, "strategy")),
                             absl::StrCat(Int(replicas, "running")), OrDash(Str(s, "waiting"))});
    }
    rows.push_back(std::move(row));
  }
  PrintTable(io.out, rows);
}

void PrintRollouts(const json& answer, bool wide, const Io& io) {
  const json rollouts = Field(answer, "rollouts");
  if (!rollouts.is_array() || rollouts.empty()) {
    io.out << "No rollouts in " << Str(answer, "environment") << ".\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"ID", "SERVICE", "REVISIONS", "STRATEGY", "PHASE", "STARTED"};
  if (wide) head.insert(head.end(), {"FINISHED", "REASON"});
  rows.push_back(head);
  for (const json& r : rollouts) {
    const int64_t from = Int(r, "from_revision");
    std::vector<std::string> row = {
        absl::StrCat(Int(r, "id")),
        Str(r, "service"),
        from == 0 ? absl::StrCat(Int(r, "to_revision")) : absl::StrCat(from, " -> ",
                                                                       Int(r, "to_revision")),
        Str(r, "strategy"),
        Str(r, "phase"),
        DateTime(Str(r, "created_at"))};
    if (wide) row.insert(row.end(), {DateTime(Str(r, "finished_at")), OrDash(Str(r, "reason"))});
    rows.push_back(std::move(row));
  }
  PrintTable(io.out, rows);
}

}  // namespace

int RunGet(const GetOptions& options, const Io& io) {
  const std::string command = absl::StrCat("hut get ", options.kind);
  absl::StatusOr<ApiClient> client = Connect(options.environment, io);
  if (!client.ok()) {
    io.err << command << ": " << client.status().message() << "\n";
    return kExitFailure;
  }
  const bool services = options.kind == "services";
  absl::StatusOr<json> answer =
      services ? client->Services() : client->Rollouts(options.service, options.limit);
  if (!answer.ok()) {
    io.err << command << ": " << answer.status().message() << "\n";
    return kExitFailure;
  }
  if (options.output == "json") {
    io.out << answer->dump(2) << "\n";
    return kExitOk;
  }
  const bool wide = options.output == "wide";
  if (services) {
    PrintServices(*answer, wide, io);
  } else {
    PrintRollouts(*answer, wide, io);
  }
  return kExitOk;
}

}  // namespace hut::cli
