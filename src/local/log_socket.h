#ifndef HUT_LOCAL_LOG_SOCKET_H_
#define HUT_LOCAL_LOG_SOCKET_H_

// A Unix datagram socket that a server sends its log lines to, one line per
// datagram, as syslog's `unix@PATH` target does (HAProxy's `log unix@…
// format raw`): each line is converted and written to a sink. HAProxy
// cannot share a log file with anything (it makes its stdout non-blocking,
// which clears O_APPEND), and a socket also keeps a slow reader from
// slowing a request: past the socket's buffer, the server drops lines and
// counts them.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "src/common/log.h"
#include "src/local/log_follower.h"

namespace hut::local {

class LogSocket {
 public:
  // Binds `path` (replacing a stale socket there; mode 0700: only its owner
  // may send to it) and reads it on a thread of its own. `sink` must outlive it.
  static absl::StatusOr<std::unique_ptr<LogSocket>> Open(const std::string& path,
                                                         LogFollower::Convert convert,
                                                         LogSink& sink);
  ~LogSocket();  // reads what is queued, then closes and removes the socket
  LogSocket(const LogSocket&) = delete;
  LogSocket& operator=(const LogSocket&) = delete;

  const std::string& path() const { return path_; }
  uint64_t lines() const { return lines_.load(); }  // passed on so far

 private:
  LogSocket(std::string path, int fd, LogFollower::Convert convert, LogSink& sink);
  void ReadLoop();
  // Passes on every datagram queued now; false when there was none.
  bool Drain();

  const std::string path_;
  const int fd_;
  const LogFollower::Convert convert_;
  LogSink& sink_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> lines_{0};
  std::thread thread_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_LOG_SOCKET_H_
