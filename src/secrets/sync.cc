#include "src/secrets/sync.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/common/status.h"
#include "src/secrets/jwt_keys.h"

namespace hut::secrets {
namespace fs = std::filesystem;

absl::Status SyncJwtKeys(SecretsService& secrets, const std::string& file, const Clock& clock) {
  absl::StatusOr<SecretValue> current = secrets.Current(kJwtSecret);
  Secret on_disk;
  if (std::ifstream in(file); in) {
    std::stringstream text;
    text << in.rdbuf();
    on_disk = Secret(std::string(absl::StripAsciiWhitespace(text.str())));
  }
  if (current.status().code() == absl::StatusCode::kNotFound) {
    const Secret first = on_disk.empty() ? NewJwtKeySet(clock) : on_disk;
    HUT_RETURN_IF_ERROR(secrets.Set(kJwtSecret, first, "hut").status());
    current = secrets.Current(kJwtSecret);
  }
  if (!current.ok()) return current.status();
  if (current->value.Equals(on_disk)) return absl::OkStatus();
  std::error_code ec;
  fs::create_directories(fs::path(file).parent_path(), ec);
  return WritePrivateFile(file, current->value.Reveal() + "\n");
}

namespace {

// The file's content, "" when it is missing.
Secret ReadSecretFile(const std::string& file) {
  std::ifstream in(file);
  if (!in) return Secret();
  std::stringstream text;
  text << in.rdbuf();
  return Secret(text.str());
}

// Writes `content` to `file` (0600) unless it holds it already.
absl::Status WriteIfChanged(const std::string& file, const Secret& content) {
  if (ReadSecretFile(file).Equals(content)) return absl::OkStatus();
  std::error_code ec;
  fs::create_directories(fs::path(file).parent_path(), ec);
  return WritePrivateFile(file, content.Reveal());
}

}  // namespace

Secret PasswordFileLine(const DatabaseCredentials& c) {
  return Secret(absl::StrCat("*:*:*:", c.username, ":", c.password.Reveal(), "\n"));
}

absl::Status SyncDatabaseCredentials(SecretsService& secrets, const std::string& password_file,
                                     const std::string& credentials_file,
                                     const std::string& dbname) {
  absl::StatusOr<SecretValue> current = secrets.Current(kDatabaseSecret);
  if (current.status().code() == absl::StatusCode::kNotFound) {
    const Secret line = ReadSecretFile(password_file);
    if (line.empty()) return absl::OkStatus();
    // "*:*:*:USER:PASSWORD"
    const std::string& text = line.Reveal();
    const size_t end = std::min(text.find_first_of("\r\n"), text.size());
    const size_t colon = text.find(':', 6);
    if (!text.starts_with("*:*:*:") || colon == std::string::npos || colon + 1 >= end) {
      return absl::InvalidArgumentError(
          absl::StrCat(password_file, ": not a password file (expected \"*:*:*:USER:PASSWORD\")"));
    }
    DatabaseCredentials first{.engine = "postgres", .dbname = dbname,
                              .username = text.substr(6, colon - 6),
                              .password = Secret(text.substr(colon + 1, end - colon - 1))};
    HUT_RETURN_IF_ERROR(secrets.Set(kDatabaseSecret, SerializeDatabaseCredentials(first), "hut").status());
    current = secrets.Current(kDatabaseSecret);
  }
  if (!current.ok()) return current.status();
  HUT_ASSIGN_OR_RETURN(DatabaseCredentials c, ParseDatabaseCredentials(current->value));
  HUT_RETURN_IF_ERROR(WriteIfChanged(password_file, PasswordFileLine(c)));
  return WriteIfChanged(credentials_file, current->value);
}

}  // namespace hut::secrets
