#ifndef HUT_TESTING_CAPTURE_LOG_SINK_H_
#define HUT_TESTING_CAPTURE_LOG_SINK_H_

#include <mutex>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "src/common/log.h"

namespace hut::testing {

// Keeps every log line in memory, for tests that assert on logging.
class CaptureLogSink final : public LogSink {
 public:
  void Write(std::string_view line) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  std::vector<nlohmann::json> Parsed() const {
    std::vector<nlohmann::json> out;
    for (const std::string& l : lines()) out.push_back(nlohmann::json::parse(l));
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace hut::testing

#endif  // HUT_TESTING_CAPTURE_LOG_SINK_H_
