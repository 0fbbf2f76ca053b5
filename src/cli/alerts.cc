#include "src/cli/alerts.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/cli/api_client.h"
#include "src/cli/output.h"

namespace hut::cli {
namespace {

using nlohmann::json;

std::string Deadline(const json& a) {
  const std::string state = Str(a, "state");
  if (state == "acked") return absl::StrCat("acked by ", Str(a, "acked_by").empty() ? "?" : Str(a, "acked_by"));
  if (state == "resolved") return absl::StrCat("resolved ", DateTime(Str(a, "resolved_at")));
  const std::string deadline = Str(a, "deadline");
  return deadline.empty() ? "-" : absl::StrCat("ack by ", DateTime(deadline));
}

// Who acknowledges or silences: `by`, else $USER, else `fallback`.
std::string Who(const std::string& by, const char* fallback) {
  if (!by.empty()) return by;
  const char* user = std::getenv("USER");
  return user != nullptr ? user : fallback;
}

}  // namespace

int RunAlertsList(const AlertsListOptions& o, const Io& io) {
  const std::string command = "hut alerts list";
  absl::StatusOr<ApiClient> client = Connect(o.environment, io);
  if (!client.ok()) {
    io.err << command << ": " << client.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<json> answer = client->Alerts(o.state, o.limit);
  if (!answer.ok()) {
    io.err << command << ": " << answer.status().message() << "\n";
    return kExitFailure;
  }
  const json alerts = Field(*answer, "alerts");
  if (o.json) {
    io.out << alerts.dump(2) << "\n";
    return kExitOk;
  }
  if (!alerts.is_array() || alerts.empty()) {
    io.out << "No alerts" << (o.state.empty() ? "" : absl::StrCat(" ", o.state)) << " in "
           << Str(*answer, "environment") << ".\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "STATE", "SEVERITY", "ALERT", "SERVICE", "SINCE", "ESCALATIONS", "DEADLINE"}};
  for (const json& a : alerts) {
    rows.push_back({std::to_string(Int(a, "id")), Str(a, "state"), Str(a, "severity"),
                    Str(a, "name"), Str(a, "service").empty() ? "-" : Str(a, "service"),
                    DateTime(Str(a, "starts_at")), std::to_string(Int(a, "escalations")),
                    Deadline(a)});
  }
  PrintTable(io.out, rows);
  return kExitOk;
}

int RunAlertsAck(const AlertsAckOptions& o, const Io& io) {
  const std::string command = "hut alerts ack";
  absl::StatusOr<ApiClient> client = Connect(o.environment, io);
  if (!client.ok()) {
    io.err << command << ": " << client.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<json> acked = client->AcknowledgeAlert(o.id, Who(o.by, ""));
  if (!acked.ok()) {
    io.err << command << ": " << acked.status().message() << "\n";
    return kExitFailure;
  }
  if (o.json) {
    io.out << acked->dump(2) << "\n";
    return kExitOk;
  }
  io.out << "alert " << Int(*acked, "id") << " (" << Str(*acked, "name") << ", "
         << Str(*acked, "severity") << ") acknowledged by " << Str(*acked, "acked_by")
         << ": no more escalation\n";
  return kExitOk;
}

int RunAlertsSilence(const AlertsSilenceOptions& o, const Io& io) {
  const std::string command = "hut alerts silence";
  absl::StatusOr<ApiClient> client = Connect(o.environment, io);
  if (!client.ok()) {
    io.err << command << ": " << client.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<json> answer = client->Silence(o.matchers, o.length, o.comment, Who(o.by, "hut"));
  if (!answer.ok()) {
    io.err << command << ": " << answer.status().message() << "\n";
    return kExitFailure;
  }
  io.out << "silence " << Str(*answer, "silence_id") << " for " << o.length << "\n";
  return kExitOk;
}

int RunAlertsTest(const AlertsTestOptions& o, const Io& io) {
  const std::string command = "hut alerts test";
  absl::StatusOr<ApiClient> client = Connect(o.environment, io);
  if (!client.ok()) {
    io.err << command << ": " << client.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<json> sent = client->TestAlert(o.severity, o.service);
  if (!sent.ok()) {
    io.err << command << ": " << sent.status().message() << "\n";
    return kExitFailure;
  }
  if (o.json) {
    io.out << sent->dump(2) << "\n";
    return kExitOk;
  }
  io.out << "test alert (" << o.severity << ") sent to Alertmanager at "
         << Str(*sent, "alertmanager")
         << "; it reaches its channel after the severity's group_wait (hut alerts list)\n";
  return kExitOk;
}

}  // namespace hut::cli
