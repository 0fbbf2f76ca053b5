#ifndef HUT_ALERTING_NOTIFIER_H_
#define HUT_ALERTING_NOTIFIER_H_

// The Notifier seam: what hands one queued notification (store.h's outbox)
// to a receiver, and says how it went. The dispatcher (dispatcher.h) owns
// retries and order; a Notifier makes one attempt. Implementations:
//   - PagerDutyNotifier: the Events API v2 (POST events_url), the routing
//     key of the notification's recipient read from its file at each send;
//   - SlackNotifier: an incoming webhook, its URL (a secret) from a file or
//     given as is (a local receiver).

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "src/common/clock.h"
#include "src/store/store.h"

namespace hut::alerting {

struct Delivery {
  enum class Outcome {
    kDelivered,  // the receiver took it (2xx)
    kRetry,      // not now: timeout, refused connection, 408, 429, 5xx, a secret not readable
    kRefused,    // never: the receiver says the message is wrong (other 4xx)
  };
  Outcome outcome = Outcome::kRetry;
  std::string detail;                 // what the receiver or the transport said
  std::optional<Duration> retry_after;  // the receiver's Retry-After, when it gave one
};

class Notifier {
 public:
  virtual ~Notifier() = default;
  // One attempt; never throws. Safe to call from one thread at a time.
  virtual Delivery Send(const store::Notification& notification) = 0;
};

// How an HTTP answer counts (shared by the HTTP notifiers): 2xx delivered;
// 408, 429 and 5xx retried (with Retry-After seconds when given); the rest refused.
Delivery ClassifyHttpAnswer(int status, const std::string& body,
                            const std::optional<std::string>& retry_after);

struct PagerDutyOptions {
  std::string events_url = "https://events.pagerduty.com/v2/enqueue";
  // Recipient ("" the first level, "escalation-1", …) -> file holding the
  // routing key (an Events API v2 integration key) of its PagerDuty service.
  std::map<std::string, std::string> routing_key_files;
  std::chrono::milliseconds timeout{10000};
};

class PagerDutyNotifier final : public Notifier {
 public:
  explicit PagerDutyNotifier(PagerDutyOptions options) : options_(std::move(options)) {}
  Delivery Send(const store::Notification& notification) override;

 private:
  const PagerDutyOptions options_;
};

struct SlackOptions {
  std::string webhook_url;       // as is (a local receiver), or
  std::string webhook_url_file;  // a file holding it (the URL is the secret)
  std::chrono::milliseconds timeout{10000};
};

class SlackNotifier final : public Notifier {
 public:
  explicit SlackNotifier(SlackOptions options) : options_(std::move(options)) {}
  Delivery Send(const store::Notification& notification) override;

 private:
  const SlackOptions options_;
};

}  // namespace hut::alerting

#endif  // HUT_ALERTING_NOTIFIER_H_
