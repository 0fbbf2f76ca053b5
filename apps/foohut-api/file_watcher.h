#ifndef HUT_APPS_FOOHUT_API_FILE_WATCHER_H_
#define HUT_APPS_FOOHUT_API_FILE_WATCHER_H_

// Watches a file that a rotation rewrites (JWT keys, database credentials)
// and hands each new content to a callback: how a rotated secret reaches a
// running process without a restart. The file is replaced by a rename, so a
// read sees the old content or the new one; a missing file keeps what was
// taken.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/common/secret.h"

namespace hut::foohut {

class FileWatcher {
 public:
  // Takes a content; false when it is not valid (it is not tried again until
  // the file changes).
  using Take = std::function<bool(const Secret& content)>;

  // Reads the file now (what the process started with: not handed over),
  // then checks every `interval` of `clock` whether its content changed.
  FileWatcher(std::string path, Take take, const Clock& clock, Duration interval);
  ~FileWatcher();  // stops the thread
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Reads the file now; true when it changed and `take` took it.
  bool CheckNow();

 private:
  const std::string path_;
  const Take take_;
  const Clock& clock_;
  absl::Mutex check_mu_;  // CheckNow from a caller and from the thread
  // A hash of the content last seen; nullopt before the first read.
  std::optional<std::string> seen_ ABSL_GUARDED_BY(check_mu_);
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_FILE_WATCHER_H_
