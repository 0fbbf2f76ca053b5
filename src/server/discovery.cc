#include "src/server/discovery.h"

#include <sodium.h>

#include "src/common/status.h"
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace hut::server {
namespace fs = std::filesystem;

std::string HostPort::ToString() const { return absl::StrCat(host, ":", port); }

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  uint32_t port = 0;
  if (colon == std::string_view::npos ||
      !absl::SimpleAtoi(absl::string_view(text.data() + colon + 1, text.size() - colon - 1),
                        &port) ||
      port == 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", std::string(text), "\" is not HOST:PORT (e.g. 127.0.0.1:7480)"));
  }
  HostPort hp{std::string(text.substr(0, colon)), static_cast<uint16_t>(port)};
  if (hp.host.empty()) hp.host = "127.0.0.1";
  return hp;
}

std::optional<std::string> PointerPath(const std::optional<std::string>& home,
                                       const HostPort& address) {
  if (!home || home->empty()) return std::nullopt;
  return absl::StrCat(*home, "/.hut/servers/", address.host, "-", address.port, ".json");
}

absl::Status WritePointer(const std::string& path, const ServerInfo& info) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create folder for ", path, ": ", ec.message()));
  nlohmann::json j = {{"address", info.address},         {"state_dir", info.state_dir},
                      {"token_file", info.token_file},   {"environment", info.environment},
                      {"pid", info.pid}};
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  fs::rename(tmp, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<ServerInfo> ReadPointer(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no server pointer at ", path));
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(path, ": not a JSON object"));
  }
  ServerInfo info;
  try {
    info.address = j.value("address", "");
    info.state_dir = j.value("state_dir", "");
    info.token_file = j.value("token_file", "");
    info.environment = j.value("environment", "");
    info.pid = j.value("pid", 0);
  } catch (const nlohmann::json::exception& e) {  // a field of the wrong type
    return absl::DataLossError(absl::StrCat(path, ": ", e.what()));
  }
  return info;
}

namespace {

// `forbidden`: the mode bits that must be clear.
absl::StatusOr<Secret> ReadTokenFile(const std::string& path, mode_t forbidden) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("no token file at ", path));
  }
  if ((st.st_mode & forbidden) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "token file ", path, " is readable by others (mode ",
        absl::StrFormat("%04o", st.st_mode & 0777), "); chmod ",
        forbidden == 077 ? "600" : "o-rwx", " it"));
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::PermissionDeniedError(absl::StrCat("cannot read ", path));
  std::string token(absl::StripAsciiWhitespace(text.str()));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " is empty"));
  return Secret(std::move(token));
}

}  // namespace

absl::StatusOr<Secret> ReadToken(const std::string& path) { return ReadTokenFile(path, 077); }

absl::StatusOr<Secret> ReadMountedToken(const std::string& path) {
  return ReadTokenFile(path, 007);
}

absl::StatusOr<Secret> LoadOrCreateToken(const std::string& state_dir) {
  return LoadOrCreateTokenFile(absl::StrCat(state_dir, "/", kTokenFileName));
}

absl::StatusOr<Secret> LoadOrCreateTokenFile(const std::string& path) {
  if (fs::exists(path)) return ReadToken(path);
  Secret token = RandomSecretHex(32);
  HUT_RETURN_IF_ERROR(WritePrivateFile(path, token.Reveal() + "\n"));
  return token;
}

}  // namespace hut::server
