#ifndef HUT_SERVER_DISCOVERY_H_
#define HUT_SERVER_DISCOVERY_H_

// How the CLI finds a running hut server and its admin token without flags.
//
// The server keeps its admin token in <state dir>/admin-token (mode 0600,
// created on first start, reused after) and, while it runs, a pointer file
// $HOME/.hut/servers/<host>-<port>.json:
//   {"address": "127.0.0.1:7480", "state_dir": "/abs/.hut",
//    "token_file": "/abs/.hut/admin-token", "environment": "staging", "pid": 123}
//
// The CLI takes the address from HUT_ADDR (default 127.0.0.1:7480) and the
// token from, in order: HUT_TOKEN; the file HUT_TOKEN_FILE; the token_file of
// the pointer file for the address; .hut/admin-token in the current folder.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/secret.h"

namespace hut::server {

inline constexpr char kDefaultAddress[] = "127.0.0.1:7480";
inline constexpr char kTokenFileName[] = "admin-token";
inline constexpr char kStateDirName[] = ".hut";

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
};
// "127.0.0.1:7480" or ":7480" (host 127.0.0.1). InvalidArgument names the problem.
absl::StatusOr<HostPort> ParseHostPort(std::string_view text);

struct ServerInfo {
  std::string address;  // host:port
  std::string state_dir;
  std::string token_file;
  std::string environment;
  int pid = 0;
};

// $HOME/.hut/servers/<host>-<port>.json; nullopt when HOME is unset.
std::optional<std::string> PointerPath(const std::optional<std::string>& home,
                                       const HostPort& address);
absl::Status WritePointer(const std::string& path, const ServerInfo& info);
absl::StatusOr<ServerInfo> ReadPointer(const std::string& path);

// Reads the token in <state_dir>/admin-token, creating it (32 random bytes,
// hex, mode 0600) when missing. Refuses a token file others can read.
absl::StatusOr<Secret> LoadOrCreateToken(const std::string& state_dir);
// The same for any token file at `path`.
absl::StatusOr<Secret> LoadOrCreateTokenFile(const std::string& path);
// Reads a token file (surrounding whitespace dropped); refuses an empty one,
// and one its group or others can read.
absl::StatusOr<Secret> ReadToken(const std::string& path);
// The same for a token the platform mounts, such as a Kubernetes Secret
// volume: the pod's fsGroup gets read access (mode 0440), others none.
absl::StatusOr<Secret> ReadMountedToken(const std::string& path);

}  // namespace hut::server

#endif  // HUT_SERVER_DISCOVERY_H_
