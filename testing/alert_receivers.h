#ifndef HUT_TESTING_ALERT_RECEIVERS_H_
#define HUT_TESTING_ALERT_RECEIVERS_H_

// Local stand-ins for the services hut notifies, on loopback: each checks
// every request against the service's documented wire format, field by
// field, answers as the service does (an invalid request gets the service's
// 400), and keeps what it took. Tests only.
//   - PagerDutyReceiver: Events API v2, POST /v2/enqueue
//     (developer.pagerduty.com "Send an Alert Event"); keeps incidents by
//     dedup_key as PagerDuty does (a trigger for an open incident adds
//     nothing, acknowledge and resolve change its status).
//   - SlackReceiver: an incoming webhook (api.slack.com "Sending messages
//     using incoming webhooks", Block Kit's limits).
// Both can be taken down (answer 503 or a status you choose, or close the
// listener) and brought back.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "src/http/message.h"
#include "src/http/server.h"

namespace hut::testing {

// The format problems of a PagerDuty Events API v2 request body (empty: valid).
std::vector<std::string> PagerDutyEventProblems(const nlohmann::json& event);
// The format problems of a Slack incoming-webhook message (empty: valid).
std::vector<std::string> SlackMessageProblems(const nlohmann::json& message);

class AlertReceiver {
 public:
  virtual ~AlertReceiver();
  uint16_t port() const;
  // Answers every request with `status` (0: normally), and a Retry-After
  // header when `retry_after` is set.
  void Fail(int status, std::optional<int> retry_after = std::nullopt);
  // While held, a request taken is answered only once released (or after
  // 60 s): the sender's process can be killed between send and answer.
  void HoldAnswers(bool hold);
  // Stops listening (connections are refused) / listens again on the same port.
  void Stop();
  absl::Status Restart();

  // Bodies taken (2xx), in order; the problems of those refused as invalid.
  std::vector<nlohmann::json> taken() const;
  std::vector<std::string> problems() const;
  int requests() const;  // every request, answered or refused
  // Waits (real time, bounded) until `n` bodies were taken.
  bool WaitForTaken(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

 protected:
  AlertReceiver() = default;
  absl::Status Listen(uint16_t port);
  // Checks and takes one request: 2xx and the body taken, or the refusal.
  virtual http::Response Take(const http::Request& request, std::vector<std::string>& problems)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;

  mutable absl::Mutex mu_;
  std::vector<nlohmann::json> taken_ ABSL_GUARDED_BY(mu_);

 private:
  http::Response Handle(const http::Request& request);

  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
  int fail_status_ ABSL_GUARDED_BY(mu_) = 0;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<int> retry_after_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> problems_ ABSL_GUARDED_BY(mu_);
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
};

class PagerDutyReceiver final : public AlertReceiver {
 public:
  struct Incident {
    std::string status;  // "triggered", "acknowledged", "resolved"
    std::string routing_key;
    int triggers = 0;  // trigger events for it (repeats included)
    nlohmann::json payload;
  };
  // Takes only events whose routing_key is one of `routing_keys`.
  static absl::StatusOr<std::unique_ptr<PagerDutyReceiver>> Start(
      std::vector<std::string> routing_keys);
  std::string url() const;  // http://127.0.0.1:PORT/v2/enqueue
  // By dedup_key.
  std::map<std::string, Incident> incidents() const;

 private:
  http::Response Take(const http::Request& request, std::vector<std::string>& problems) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::string> routing_keys_;
  std::map<std::string, Incident> incidents_ ABSL_GUARDED_BY(mu_);
};

class SlackReceiver final : public AlertReceiver {
 public:
  static absl::StatusOr<std::unique_ptr<SlackReceiver>> Start();
  // http://127.0.0.1:PORT/services/T000/B000/XXXX (the path is the secret).
  std::string url() const;

 private:
  http::Response Take(const http::Request& request, std::vector<std::string>& problems) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace hut::testing

#endif  // HUT_TESTING_ALERT_RECEIVERS_H_
