#include "src/cli/secrets.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "src/cli/api_client.h"
#include "src/cli/output.h"

namespace hut::cli {
namespace {

using nlohmann::json;

std::string Who(const SecretsOptions& o, const Io& io) {
  if (!o.by.empty()) return o.by;
  return io.getenv ? io.getenv("USER").value_or("(unknown)") : "(unknown)";
}

// The server checks names too; the CLI keeps a bad one out of the URL path.
bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') return false;
  }
  return true;
}

// Connects to the server; first checks the name when `named`.
absl::StatusOr<ApiClient> Open(const SecretsOptions& o, bool named, const Io& io) {
  if (named && !ValidName(o.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", o.name, "\" is not a secret name (lowercase letters, digits and '-', e.g. "
                      "database, jwt, third-party-api-keys)"));
  }
  return Connect(o.environment, io);
}

std::string Current(const json& versions) {
  for (const json& v : versions) {
    for (const json& s : v["stages"]) {
      if (s == "current") return Str(v, "id");
    }
  }
  return "-";
}

int Fail(const std::string& command, const absl::Status& s, const Io& io) {
  io.err << command << ": " << s.message() << "\n";
  return kExitFailure;
}

}  // namespace

int RunSecretsList(const SecretsOptions& o, const Io& io) {
  const std::string command = "hut secrets list";
  absl::StatusOr<ApiClient> client = Open(o, false, io);
  if (!client.ok()) return Fail(command, client.status(), io);
  absl::StatusOr<json> answer = client->Secrets();
  if (!answer.ok()) return Fail(command, answer.status(), io);
  if (o.json) {
    io.out << answer->dump(2) << "\n";
    return kExitOk;
  }
  const json list = Field(*answer, "secrets");
  if (!list.is_array() || list.empty()) {
    io.out << "No secrets in " << Str(*answer, "environment") << " (" << Str(*answer, "backend")
           << ").\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "CURRENT", "SINCE", "VERSIONS"}};
  for (const json& s : list) {
    std::string since = "-";
    for (const json& v : s["versions"]) {
      if (Str(v, "id") == Current(s["versions"])) since = DateTime(Str(v, "created"));
    }
    rows.push_back({Str(s, "name"), Current(s["versions"]), since,
                    std::to_string(s["versions"].size())});
  }
  io.out << "Secrets of " << Str(*answer, "environment") << " (" << Str(*answer, "backend")
         << "):\n";
  PrintTable(io.out, rows);
  return kExitOk;
}

int RunSecretsGet(const SecretsOptions& o, const Io& io) {
  const std::string command = "hut secrets get";
  absl::StatusOr<ApiClient> client = Open(o, true, io);
  if (!client.ok()) return Fail(command, client.status(), io);
  absl::StatusOr<json> answer = client->SecretOf(o.name, o.reveal, Who(o, io));
  if (!answer.ok()) return Fail(command, answer.status(), io);
  if (o.json) {
    io.out << answer->dump(2) << "\n";
  } else if (o.reveal) {
    io.out << Str(*answer, "value") << "\n";  // the value alone, for a pipe
  } else {
    io.out << Str(*answer, "name") << " (" << Str(*answer, "backend") << "): current version "
           << Current((*answer)["versions"]) << ", " << (*answer)["versions"].size()
           << " versions (hut secrets history " << o.name << "; --reveal prints the value)\n";
  }
  if (answer->contains("value")) WipeString((*answer)["value"].get_ref<std::string&>());
  return kExitOk;
}

int RunSecretsSet(const SecretsOptions& o, const Io& io) {
  const std::string command = "hut secrets set";
  std::string text;
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) return Fail(command, absl::NotFoundError(absl::StrCat("cannot read ", o.file)), io);
    std::stringstream s;
    s << in.rdbuf();
    text = s.str();
  } else {
    std::istream& in = io.in != nullptr ? *io.in : std::cin;
    std::stringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();  // what `echo` and editors add
  if (!text.empty() && text.back() == '\r') text.pop_back();
  Secret value(std::move(text));
  if (value.empty()) {
    return Fail(command, absl::InvalidArgumentError(
                             "no value: give it on stdin or with --file (never on the command line)"),
                io);
  }
  absl::StatusOr<ApiClient> client = Open(o, true, io);
  if (!client.ok()) return Fail(command, client.status(), io);
  absl::StatusOr<json> answer = client->SetSecret(o.name, value, Who(o, io));
  if (!answer.ok()) return Fail(command, answer.status(), io);
  if (o.json) {
    io.out << answer->dump(2) << "\n";
  } else {
    io.out << "secret " << o.name << ": version " << Str(*answer, "version") << " is current\n";
  }
  return kExitOk;
}

int RunSecretsHistory(const SecretsOptions& o, const Io& io) {
  const std::string command = "hut secrets history";
  absl::StatusOr<ApiClient> client = Open(o, true, io);
  if (!client.ok()) return Fail(command, client.status(), io);
  absl::StatusOr<json> answer = client->SecretOf(o.name, false, "");
  if (!answer.ok()) return Fail(command, answer.status(), io);
  if (o.json) {
    io.out << answer->dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"VERSION", "CREATED", "STAGES"}};
  for (const json& v : (*answer)["versions"]) {
    std::vector<std::string> stages;
    for (const json& s : v["stages"]) stages.push_back(s.get<std::string>());
    rows.push_back({Str(v, "id"), DateTime(Str(v, "created")),
                    stages.empty() ? "-" : absl::StrJoin(stages, ",")});
  }
  PrintTable(io.out, rows);
  return kExitOk;
}

int RunSecretsRotate(const SecretsOptions& o, const Io& io) {
  const std::string command = "hut secrets rotate";
  absl::StatusOr<ApiClient> client = Open(o, true, io);
  if (!client.ok()) return Fail(command, client.status(), io);
  // The test step waits for every replica (up to 30 s); the answer comes after.
  ApiClient patient(client->target(), client->environment(), std::chrono::seconds(90));
  absl::StatusOr<json> answer = patient.RotateSecret(o.name, Who(o, io));
  if (!answer.ok()) return Fail(command, answer.status(), io);
  if (o.json) {
    io.out << answer->dump(2) << "\n";
  } else if (answer->contains("user")) {
    io.out << "secret " << o.name << " rotated: replicas log in as " << Str(*answer, "user")
           << " now; the previous login works until the overlap ends\n";
  } else {
    io.out << "secret " << o.name << " rotated: " << Str(*answer, "kid")
           << " signs now; the previous key verifies until the overlap ends\n";
  }
  return kExitOk;
}

}  // namespace hut::cli
