#include "src/secrets/local_backend.h"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "src/common/status.h"

namespace hut::secrets {
namespace fs = std::filesystem;
namespace {

constexpr char kCheckValue[] = "hut secrets store";
constexpr size_t kKeptWithoutStage = 10;  // old versions kept for `hut secrets history`

int64_t ToUnixMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromUnixMillis(int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

std::string Base64(const std::string& bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> FromBase64(const std::string& text) {
  std::string out(text.size(), '\0');
  size_t n = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &n, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  out.resize(n);
  return out;
}

// 32 bytes from 64 hex characters.
absl::StatusOr<Secret> KeyFromHex(const std::string& hex, const std::string& where) {
  std::string raw(crypto_aead_xchacha20poly1305_ietf_KEYBYTES, '\0');
  size_t n = 0;
  const std::string trimmed = hex.substr(0, hex.find_last_not_of(" \t\r\n") + 1);
  if (trimmed.size() != 2 * raw.size() ||
      sodium_hex2bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), trimmed.data(),
                     trimmed.size(), nullptr, &n, nullptr) != 0 ||
      n != raw.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the master key must be 64 hex characters (32 bytes)"));
  }
  return Secret(std::move(raw));
}

absl::StatusOr<Secret> LoadOrCreateKeyFile(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    Secret fresh = RandomSecretHex(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    HUT_RETURN_IF_ERROR(WritePrivateFile(path, fresh.Reveal() + "\n"));
    chmod(path.c_str(), 0400);
    return KeyFromHex(fresh.Reveal(), path);
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "master key file ", path, " is readable by others (mode ",
        absl::StrFormat("%04o", st.st_mode & 0777), "); chmod 400 it"));
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::PermissionDeniedError(absl::StrCat("cannot read ", path));
  Secret hex(text.str());
  return KeyFromHex(hex.Reveal(), path);
}

}  // namespace

struct LocalSecretBackend::State {
  struct Version {
    std::string id;
    std::string sealed;  // base64(nonce || ciphertext)
    int64_t created_ms = 0;
    std::set<std::string> stages;
  };
  std::string check;  // kCheckValue sealed: proves the key opens the store
  std::map<std::string, std::vector<Version>> secrets;  // versions oldest first

  Version* Find(const std::string& name, const std::string& id) {
    auto it = secrets.find(name);
    if (it == secrets.end()) return nullptr;
    for (Version& v : it->second) {
      if (v.id == id) return &v;
    }
    return nullptr;
  }
  // Drops all but the newest kKeptWithoutStage versions without a stage.
  void Prune(const std::string& name) {
    std::vector<Version>& vs = secrets[name];
    size_t unlabelled = 0;
    for (const Version& v : vs) unlabelled += v.stages.empty();
    for (auto it = vs.begin(); it != vs.end() && unlabelled > kKeptWithoutStage;) {
      if (it->stages.empty()) {
        it = vs.erase(it);
        --unlabelled;
      } else {
        ++it;
      }
    }
  }
};

LocalSecretBackend::LocalSecretBackend(std::string file, Secret key, const Clock& clock)
    : file_(std::move(file)), key_(std::move(key)), clock_(clock), state_(std::make_unique<State>()) {}

LocalSecretBackend::~LocalSecretBackend() = default;

std::string LocalSecretBackend::Seal(const std::string& name, const std::string& version,
                                     const Secret& value) const {
  const std::string ad = absl::StrCat(name, "\n", version);
  std::string out(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                      value.Reveal().size() + crypto_aead_xchacha20poly1305_ietf_ABYTES,
                  '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long n = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &n,
      reinterpret_cast<const unsigned char*>(value.Reveal().data()), value.Reveal().size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce,
      reinterpret_cast<const unsigned char*>(key_.Reveal().data()));
  return Base64(out);
}

absl::StatusOr<Secret> LocalSecretBackend::Unseal(const std::string& name,
                                                  const std::string& version,
                                                  const std::string& sealed) const {
  std::optional<std::string> raw = FromBase64(sealed);
  const size_t overhead =
      crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES;
  const auto broken = [&] {
    return absl::DataLossError(absl::StrCat(file_, ": version ", version, " of ", name,
                                            " does not open with the master key (altered, "
                                            "moved, or another key)"));
  };
  if (!raw || raw->size() < overhead) return broken();
  const std::string ad = absl::StrCat(name, "\n", version);
  std::string plain(raw->size() - overhead, '\0');
  unsigned long long n = 0;
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw->data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &n, nullptr,
          nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          raw->size() - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce,
          reinterpret_cast<const unsigned char*>(key_.Reveal().data())) != 0) {
    sodium_memzero(plain.data(), plain.size());
    return broken();
  }
  plain.resize(n);
  return Secret(std::move(plain));
}

absl::StatusOr<std::unique_ptr<LocalSecretBackend>> LocalSecretBackend::Open(
    const LocalBackendOptions& options, const Clock& clock) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialise");
  Secret key;
  if (!options.key.empty()) {
    HUT_ASSIGN_OR_RETURN(key, KeyFromHex(options.key.Reveal(), "HUT_SECRETS_MASTER_KEY"));
  } else {
    HUT_ASSIGN_OR_RETURN(key, LoadOrCreateKeyFile(options.key_file));
  }
  std::unique_ptr<LocalSecretBackend> b(new LocalSecretBackend(options.file, std::move(key), clock));
  absl::MutexLock lock(&b->mu_);
  std::ifstream in(options.file);
  if (!in) {  // a new store
    b->state_->check = b->Seal("", "check", Secret(kCheckValue));
    HUT_RETURN_IF_ERROR(b->Save());
    return b;
  }
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object() || !j["secrets"].is_object() || !j["check"].is_string()) {
    return absl::DataLossError(absl::StrCat(options.file, " is not a hut secrets store"));
  }
  try {
    b->state_->check = j["check"];
    for (const auto& [name, versions] : j["secrets"].items()) {
      for (const nlohmann::json& v : versions) {
        State::Version version{.id = v.at("id"), .sealed = v.at("sealed"),
                               .created_ms = v.at("created_ms"), .stages = {}};
        for (const nlohmann::json& s : v.at("stages")) version.stages.insert(s.get<std::string>());
        b->state_->secrets[name].push_back(std::move(version));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(options.file, ": ", e.what()));
  }
  absl::StatusOr<Secret> check = b->Unseal("", "check", b->state_->check);
  if (!check.ok() || check->Reveal() != kCheckValue) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the master key does not open ", options.file,
        " (another key than the one it was written with: HUT_SECRETS_MASTER_KEY or ",
        options.key.empty() ? options.key_file : "the key file", ")"));
  }
  return b;
}

absl::Status LocalSecretBackend::Save() {
  nlohmann::json secrets = nlohmann::json::object();
  for (const auto& [name, versions] : state_->secrets) {
    nlohmann::json list = nlohmann::json::array();
    for (const State::Version& v : versions) {
      list.push_back({{"id", v.id}, {"sealed", v.sealed}, {"created_ms", v.created_ms},
                      {"stages", v.stages}});
    }
    secrets[name] = std::move(list);
  }
  std::error_code ec;
  fs::create_directories(fs::path(file_).parent_path(), ec);
  const nlohmann::json j = {{"format", 1}, {"check", state_->check}, {"secrets", secrets}};
  return WritePrivateFile(file_, j.dump(1) + "\n");
}

absl::Status LocalSecretBackend::Put(const std::string& name, const std::string& version_id,
                                     const Secret& value, const std::vector<std::string>& stages) {
  if (name.empty()) return absl::InvalidArgumentError("a secret needs a name");
  if (version_id.size() < 32 || version_id.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("version id of ", name, " must be 32-64 characters"));
  }
  absl::MutexLock lock(&mu_);
  if (State::Version* existing = state_->Find(name, version_id)) {
    HUT_ASSIGN_OR_RETURN(Secret stored, Unseal(name, version_id, existing->sealed));
    if (!stored.Equals(value)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "version ", version_id, " of ", name, " exists with another value"));
    }
    return absl::OkStatus();
  }
  std::vector<State::Version>& versions = state_->secrets[name];
  const std::set<std::string> wanted(stages.begin(), stages.end());
  for (State::Version& v : versions) {
    for (const std::string& s : wanted) {
      if (v.stages.erase(s) && s == kCurrent) {  // the old current becomes previous
        for (State::Version& w : versions) w.stages.erase(kPrevious);
        v.stages.insert(kPrevious);
      }
    }
  }
  versions.push_back({.id = version_id, .sealed = Seal(name, version_id, value),
                      .created_ms = ToUnixMillis(clock_.Now()), .stages = wanted});
  state_->Prune(name);
  return Save();
}

absl::StatusOr<SecretValue> LocalSecretBackend::Get(const std::string& name, const std::string& stage,
                                                    const std::string& version_id) {
  absl::MutexLock lock(&mu_);
  auto it = state_->secrets.find(name);
  if (it == state_->secrets.end()) {
    return absl::NotFoundError(absl::StrCat("no secret ", name));
  }
  for (const State::Version& v : it->second) {
    if (version_id.empty() ? v.stages.contains(stage) : v.id == version_id) {
      HUT_ASSIGN_OR_RETURN(Secret value, Unseal(name, v.id, v.sealed));
      return SecretValue{.version_id = v.id, .value = std::move(value),
                         .stages = {v.stages.begin(), v.stages.end()}};
    }
  }
  return absl::NotFoundError(version_id.empty()
                                 ? absl::StrCat("secret ", name, " has no version labelled ", stage)
                                 : absl::StrCat("secret ", name, " has no version ", version_id));
}

absl::Status LocalSecretBackend::MoveStage(const std::string& name, const std::string& stage,
                                           const std::string& to) {
  absl::MutexLock lock(&mu_);
  auto it = state_->secrets.find(name);
  if (it == state_->secrets.end()) return absl::NotFoundError(absl::StrCat("no secret ", name));
  if (!to.empty() && state_->Find(name, to) == nullptr) {
    return absl::NotFoundError(absl::StrCat("secret ", name, " has no version ", to));
  }
  for (State::Version& v : it->second) {
    if (v.id != to && v.stages.erase(stage) && stage == kCurrent && !to.empty()) {
      for (State::Version& w : it->second) w.stages.erase(kPrevious);
      v.stages.insert(kPrevious);
    }
  }
  if (!to.empty()) state_->Find(name, to)->stages.insert(stage);
  state_->Prune(name);
  return Save();
}

absl::StatusOr<SecretInfo> LocalSecretBackend::Describe(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = state_->secrets.find(name);
  if (it == state_->secrets.end()) return absl::NotFoundError(absl::StrCat("no secret ", name));
  SecretInfo info{.name = name, .versions = {}};
  for (const State::Version& v : it->second) {
    info.versions.push_back({.id = v.id, .stages = {v.stages.begin(), v.stages.end()},
                             .created = FromUnixMillis(v.created_ms)});
  }
  return info;
}

absl::StatusOr<std::vector<std::string>> LocalSecretBackend::List(const std::string& prefix) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, versions] : state_->secrets) {
    if (absl::StartsWith(name, prefix)) names.push_back(name);
  }
  return names;
}

std::string NewVersionId() { return RandomSecretHex(16).Reveal(); }

std::string SecretName(const std::string& project, const std::string& environment,
                       const std::string& secret) {
  return absl::StrCat(project, "/", environment, "/", secret);
}

}  // namespace hut::secrets
