#include "src/common/secret.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

#include "nlohmann/json.hpp"

namespace hut {

void NoCoreDumps() {
  const rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    Wipe();
    value_ = other.value_;
  }
  return *this;
}

Secret::Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.Wipe(); }

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = std::move(other.value_);
    other.Wipe();
  }
  return *this;
}

Secret::~Secret() { Wipe(); }

Secret RandomSecretHex(size_t bytes) {
  if (sodium_init() < 0) abort();  // no randomness: nothing safe to carry on with
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
  sodium_memzero(raw.data(), raw.size());
  hex.pop_back();
  return Secret(std::move(hex));
}

absl::Status WritePrivateFile(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp";
  auto fail = [&](const std::string& what) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, " (", what, "): ",
                                            std::strerror(err)));
  };
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail("open");
  if (fchmod(fd, 0600) != 0) {
    close(fd);
    return fail("chmod");
  }
  while (!content.empty()) {
    const ssize_t n = write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return fail("write");
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  if (fsync(fd) != 0 || close(fd) != 0) return fail("sync");
  if (rename(tmp.c_str(), path.c_str()) != 0) return fail("rename");
  return absl::OkStatus();
}

void Secret::Wipe() { WipeString(value_); }

void WipeString(std::string& text) {
  if (!text.empty()) sodium_memzero(text.data(), text.size());
  text.clear();
}

bool Secret::Equals(const Secret& other) const {
  if (value_.size() != other.value_.size()) return false;
  return sodium_memcmp(value_.data(), other.value_.data(), value_.size()) == 0;
}

void to_json(nlohmann::json& j, const Secret&) { j = std::string(Secret::kRedacted); }
void to_json(nlohmann::ordered_json& j, const Secret&) { j = std::string(Secret::kRedacted); }

}  // namespace hut
