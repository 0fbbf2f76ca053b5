#ifndef HUT_TESTING_CAPTURE_LOG_SINK_H_
#define HUT_TESTING_CAPTURE_LOG_SINK_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "src/common/log.h"

namespace hut::testing {

// Keeps every log line in memory, for tests that assert on logging.
class CaptureLogSink final : public LogSink {
 public:
  void Write(std::string_view line) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }
  std::vector<nlohmann::json> Parsed() const {
    std::vector<nlohmann::json> out;
    for (const std::string& l : lines()) out.push_back(nlohmann::json::parse(l));
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hut::testing

#endif  // HUT_TESTING_CAPTURE_LOG_SINK_H_
