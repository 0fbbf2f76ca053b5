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

}  // namespace hut::secrets
