#ifndef HUT_LOCAL_LOG_FOLLOWER_H_
#define HUT_LOCAL_LOG_FOLLOWER_H_

// Follows the log files of the servers hut runs (PostgreSQL's jsonlog,
// Redis's, HAProxy's) into the central log store, as `tail -F` would: a line
// is passed on once it is complete; a file that is replaced or truncated is
// read again from its start. Where each file was read to is kept in a
// positions file, so a hut that restarts goes on where it stopped: lines
// written while it was down are not lost, lines read before are not repeated.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/common/log.h"

namespace hut::local {

class LogFollower {
 public:
  // A server's line as a JSON log line (log_record.h's fields); nullopt: skip it.
  using Convert = std::function<std::optional<std::string>(std::string_view line)>;

  // `positions`: the file where read positions are kept ("": not kept).
  // `sink` and `clock` (the poll interval's) must outlive the follower.
  LogFollower(std::string positions, LogSink& sink, const Clock& clock);
  ~LogFollower();  // stops the thread (after one last poll)
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  // Follows `path` (which may not exist yet) from where the positions file
  // says; a file it does not name is read from its start (the servers start
  // before hut follows them: their first lines count). Before Start.
  void Follow(const std::string& path, Convert convert);
  // Polls every `interval` of the clock on a thread of its own.
  void Start(std::chrono::milliseconds interval = std::chrono::milliseconds(250));
  // Reads what is new in every file now; the lines passed on.
  int Poll();

 private:
  struct File {
    std::string path;
    Convert convert;
    ino_t inode = 0;
    uint64_t offset = 0;
    // A hash of the file's first bytes (up to kHeadBytes, at most offset):
    // a file truncated and written again past the offset has other ones.
    uint64_t head = 0;
    bool known = false;  // inode/offset from the positions file or a read
  };
  struct Saved {
    ino_t inode = 0;
    uint64_t offset = 0, head = 0;
  };
  int PollFile(File& file) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SavePositions() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string positions_;
  LogSink& sink_;
  const Clock& clock_;
  absl::Mutex mu_;
  std::vector<File> files_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Saved> saved_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_LOG_FOLLOWER_H_
