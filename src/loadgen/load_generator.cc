#include "src/loadgen/load_generator.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "src/http/client.h"

namespace hut::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

class LoadGeneratorImpl final : public LoadGenerator {
 public:
  explicit LoadGeneratorImpl(LoadOptions options) : options_(std::move(options)) {
    start_ = Clock::now();
    for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { Work(); });
    scheduler_ = std::thread([this] { Schedule(); });
  }
  ~LoadGeneratorImpl() override { Stop(); }

  LoadReport Snapshot() const override {
    absl::MutexLock lock(&mu_);
    LoadReport r = report_;
    r.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
    return r;
  }

  LoadReport Stop() override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return final_;
      stopped_ = true;
    }
    if (scheduler_.joinable()) scheduler_.join();
    {
      absl::MutexLock lock(&mu_);
      draining_ = true;
    }
    for (std::thread& t : workers_) t.join();
    absl::MutexLock lock(&mu_);
    report_.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
    final_ = report_;
    return final_;
  }

 private:
  // Releases one request per period onto the queue; a request that finds no
  // idle worker waits in the queue and counts as late when it starts.
  void Schedule() {
    const auto period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / options_.rate));
    auto next = Clock::now();
    absl::MutexLock lock(&mu_);
    while (!stopped_) {
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped_), absl::FromChrono(next - Clock::now()))) {
        break;
      }
      queue_.push_back(next);
      ++report_.sent;
      next += period;
    }
  }

  void Work() {
    while (true) {
      Clock::time_point due;
      int64_t index;
      {
        absl::MutexLock lock(&mu_);
        auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !queue_.empty() || draining_;
        };
        mu_.Await(absl::Condition(&woken));
        if (queue_.empty()) return;
        due = queue_.front();
        queue_.pop_front();
        index = next_target_++;
      }
      bool late = Clock::now() - due > std::chrono::milliseconds(100);
      http::ClientRequest request;
      request.host = options_.host;
      request.port = options_.port;
      request.target = options_.targets[index % options_.targets.size()];
      request.timeout = options_.timeout;
      auto began = Clock::now();
      auto response = http::Fetch(request);
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
      absl::MutexLock lock(&mu_);
      if (late) ++report_.late;
      if (!response.ok()) {
        ++report_.transport_errors;
        NoteError(std::string(response.status().message()));
        continue;
      }
      report_.latencies_ms.push_back(ms);
      if (response->status >= 500) {
        ++report_.server_errors;
        NoteError(absl::StrFormat("HTTP %d", response->status));
      } else {
        ++report_.ok;
      }
      if (!options_.count_header.empty()) {
        ++report_.by_header[response->Header(options_.count_header).value_or("")];
      }
    }
  }

  void NoteError(const std::string& what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (report_.errors.size() < 20 || report_.errors.count(what)) ++report_.errors[what];
  }

  const LoadOptions options_;
  Clock::time_point start_;
  mutable absl::Mutex mu_;
  std::deque<Clock::time_point> queue_ ABSL_GUARDED_BY(mu_);
  int64_t next_target_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  LoadReport report_ ABSL_GUARDED_BY(mu_);
  LoadReport final_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
  std::thread scheduler_;
};

}  // namespace

double LoadReport::LatencyQuantileMs(double q) const {
  if (latencies_ms.empty()) return 0;
  std::vector<double> sorted = latencies_ms;
  std::sort(sorted.begin(), sorted.end());
  size_t rank = static_cast<size_t>(std::ceil(std::clamp(q, 0.0, 1.0) * sorted.size()));
  return sorted[std::max<size_t>(rank, 1) - 1];
}

std::string LoadReport::Summary() const {
  return absl::StrFormat(
      "%d sent, %d failed (%d 5xx, %d transport), %.1f req/s, P50 %.2f ms, P99 %.2f ms", sent,
      failed(), server_errors, transport_errors, elapsed_s > 0 ? sent / elapsed_s : 0.0,
      LatencyQuantileMs(0.5), LatencyQuantileMs(0.99));
}

absl::StatusOr<std::unique_ptr<LoadGenerator>> LoadGenerator::Start(const LoadOptions& options) {
  if (options.port == 0) return absl::InvalidArgumentError("load generator: no port");
  if (!(options.rate > 0) || options.rate > 100'000) {
    return absl::InvalidArgumentError("load generator: rate must be in (0, 100000] per second");
  }
  if (options.workers < 1) return absl::InvalidArgumentError("load generator: workers < 1");
  if (options.targets.empty()) return absl::InvalidArgumentError("load generator: no targets");
  return std::unique_ptr<LoadGenerator>(new LoadGeneratorImpl(options));
}

}  // namespace hut::loadgen
