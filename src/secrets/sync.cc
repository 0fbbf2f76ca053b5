#include "src/secrets/sync.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/common/status.h"
#include "src/secrets/jwt_keys.h"

namespace hut::secrets {
namespace fs = std::filesystem;

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

absl::Status SyncJwtKeys(SecretsService& secrets, const std::string& file, const Clock& clock) {
  absl::StatusOr<SecretValue> current = secrets.Current(kJwtSecret);
  const Secret on_disk(std::string(absl::StripAsciiWhitespace(ReadSecretFile(file).Reveal())));
  if (current.status().code() == absl::StatusCode::kNotFound) {
    const Secret first = on_disk.empty() ? NewJwtKeySet(clock) : on_disk;
    HUT_RETURN_IF_ERROR(secrets.Set(kJwtSecret, first, "hut").status());
    current = secrets.Current(kJwtSecret);
  }
  if (!current.ok()) return current.status();
  if (current->value.Equals(on_disk)) return absl::OkStatus();
  return WriteIfChanged(file, Secret(current->value.Reveal() + "\n"));
}

absl::Status WriteDatabaseCredentials(const Secret& credentials, const std::string& password_file,
                                      const std::string& credentials_file) {
  HUT_ASSIGN_OR_RETURN(DatabaseCredentials c, ParseDatabaseCredentials(credentials));
  HUT_RETURN_IF_ERROR(WriteIfChanged(password_file, PasswordFileLine(c)));
  return WriteIfChanged(credentials_file, credentials);
}

absl::Status SyncDatabaseCredentials(SecretsService& secrets, const std::string& password_file,
                                     const std::string& credentials_file,
                                     const std::string& dbname) {
  absl::StatusOr<SecretValue> current = secrets.Current(kDatabaseSecret);
  if (current.status().code() == absl::StatusCode::kNotFound) {
    const Secret line = ReadSecretFile(password_file);
    if (line.empty()) return absl::OkStatus();
    absl::StatusOr<DatabaseCredentials> first = ParsePasswordFileLine(line);
    if (!first.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(password_file, ": ", first.status().message()));
    }
    first->dbname = dbname;
    HUT_RETURN_IF_ERROR(
        secrets.Set(kDatabaseSecret, SerializeDatabaseCredentials(*first), "hut").status());
    current = secrets.Current(kDatabaseSecret);
  }
  if (!current.ok()) return current.status();
  return WriteDatabaseCredentials(current->value, password_file, credentials_file);
}

}  // namespace hut::secrets
