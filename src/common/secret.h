#ifndef HUT_COMMON_SECRET_H_
#define HUT_COMMON_SECRET_H_

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json_fwd.hpp"

namespace hut {

// Holds a sensitive value (password, key, token). Every way of printing it,
// to a stream or to JSON (and so to a log line), shows "[REDACTED]"; the clear
// value is reachable only through Reveal(), a name that is easy to find in
// review. The memory is wiped on destruction.
class Secret {
 public:
  static constexpr std::string_view kRedacted = "[REDACTED]";

  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret& other) = default;
  Secret& operator=(const Secret& other);
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  ~Secret();

  const std::string& Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

  // Constant-time comparison.
  bool Equals(const Secret& other) const;

  friend std::ostream& operator<<(std::ostream& os, const Secret&) { return os << kRedacted; }

 private:
  void Wipe();
  std::string value_;
};

// For a process that holds secrets in memory: no core dump (a zero core
// size limit, which its children inherit) and not dumpable (no ptrace or
// /proc/PID/mem for other processes of its user). Call once at start.
void NoCoreDumps();

// Overwrites a plain string that held a secret (a request body on its way
// out), then empties it.
void WipeString(std::string& text);

// A new random value of `bytes` bytes from libsodium, as lowercase hex
// (2 × bytes characters): for tokens and passwords.
Secret RandomSecretHex(size_t bytes);

// Writes `content` to `path` with mode 0600 (created through a temporary
// file beside it and renamed, so a reader never sees half of it, nor a moment
// when it is readable by others). Errors name the path.
absl::Status WritePrivateFile(const std::string& path, std::string_view content);

// nlohmann::json conversion: serialises as "[REDACTED]". There is no from_json:
// secrets are read explicitly, never by accident.
void to_json(nlohmann::json& j, const Secret& s);
void to_json(nlohmann::ordered_json& j, const Secret& s);

}  // namespace hut

#endif  // HUT_COMMON_SECRET_H_
