#ifndef HUT_LOCAL_REDIS_SERVER_H_
#define HUT_LOCAL_REDIS_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/secret.h"
#include "src/common/subprocess.h"

namespace hut::local {

struct RedisOptions {
  std::string dir;        // working folder (append-only file, log)
  uint16_t port = 6379;   // listens on 127.0.0.1 only
  bool persist = true;    // append-only file in `dir`, so data survives restarts
  // The only ACL user ("default" is off): it authenticates with the password
  // in `password_file` (created random when missing, mode 0600; default
  // "<dir>/password"), and may run every command on every key.
  std::string user = "foohut";
  std::string password_file;
  std::chrono::milliseconds start_timeout{10'000};
};

// A real Redis 7 server from Debian, run in the foreground as a child process.
// Stopped by Stop() or the destructor. Not thread-safe.
class RedisServer {
 public:
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(const RedisOptions& options);
  ~RedisServer();

  std::string url() const;  // redis://USER@127.0.0.1:PORT (no password)
  const std::string& password_file() const { return options_.password_file; }
  const Secret& password() const { return password_; }  // user()'s, from password_file()
  uint16_t port() const { return options_.port; }
  const std::string& user() const { return options_.user; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  std::string log_file() const { return options_.dir + "/redis.log"; }
  // SIGTERM, then SIGKILL after 5 s. Idempotent.
  void Stop();
  // Why the server is not running, or nullopt while it runs. Does not block.
  std::optional<std::string> Down();
  // Starts the server again with the same folder, port and password.
  absl::Status Restart();

 private:
  explicit RedisServer(RedisOptions options) : options_(std::move(options)) {}
  RedisOptions options_;
  Secret password_;
  std::unique_ptr<Process> process_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_REDIS_SERVER_H_
