#include "src/alerting/router.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/alerting/messages.h"
#include "src/common/status.h"
#include "src/store/rules.h"

namespace hut::alerting {
namespace {

using json = nlohmann::json;

constexpr int kScanLimit = 1000;  // open alerts looked at per tick, digest lines per day
constexpr Duration kDigestCatchUp = std::chrono::hours(1);

std::string Annotation(const ReceivedAlert& a, const std::string& name) {
  auto it = a.annotations.find(name);
  return it == a.annotations.end() ? "" : it->second;
}

// Alertmanager's generatorURL is kept with the annotations, under this name.
constexpr char kSourceAnnotation[] = "generator_url";

ReceivedAlert ToReceived(const store::Alert& a, bool firing) {
  ReceivedAlert r;
  r.firing = firing;
  for (const auto& [k, v] : a.labels.items()) {
    if (v.is_string()) r.labels[k] = v.get<std::string>();
  }
  for (const auto& [k, v] : a.annotations.items()) {
    if (!v.is_string()) continue;
    if (k == kSourceAnnotation) {
      r.generator_url = v.get<std::string>();
    } else {
      r.annotations[k] = v.get<std::string>();
    }
  }
  r.starts_at = a.starts_at;
  if (a.resolved_at) r.ends_at = a.resolved_at;
  r.fingerprint = a.fingerprint;
  return r;
}

// Names one firing of one alert, known before the alert has an id (so that
// the alert and its first notification are saved in one transaction).
std::string NotificationKey(const store::Alert& a, const std::string& step) {
  return absl::StrCat("hut/", a.environment, "/", a.fingerprint, "/",
                      std::chrono::duration_cast<std::chrono::milliseconds>(
                          a.starts_at.time_since_epoch())
                          .count(),
                      "/", step);
}

std::string EscalationDedupKey(const std::string& base, int level) {
  return absl::StrCat(base, "/escalation-", level);
}

// Who escalation `level` (1, 2, …) pages: the first level again, then each
// of the spec's `levels` in turn, the last one again after that.
std::string EscalationRecipient(int level, int levels) {
  if (level == 1 || levels == 0) return "";
  return absl::StrCat("escalation-", std::min(level - 1, levels));
}

store::Notification Queued(std::string key, std::string channel, std::string recipient,
                           json message) {
  store::Notification n;
  n.key = std::move(key);
  n.channel = std::move(channel);
  n.recipient = std::move(recipient);
  if (n.channel == kPagerDuty) message.erase("routing_key");  // the notifier adds it
  n.message = std::move(message);
  return n;
}

std::optional<spec::Severity> ParseSeverity(const std::string& name) {
  for (int i = 0; i < spec::kSeverityCount; ++i) {
    const auto s = static_cast<spec::Severity>(i);
    if (spec::Name(s) == name) return s;
  }
  return std::nullopt;
}

}  // namespace

AlertRouter::AlertRouter(store::Store& store, const Clock& clock, Logger logger,
                         RouterOptions options, std::function<void()> queued)
    : store_(store),
      clock_(clock),
      logger_(std::move(logger)),
      options_(std::move(options)),
      queued_(std::move(queued)) {
  const TimePoint now = clock_.Now();
  absl::MutexLock lock(&mu_);
  // A restart just after the digest's time still sends it (its key keeps it once).
  const TimePoint last = DigestAtOrBefore(now);
  next_digest_ = now - last <= kDigestCatchUp
                     ? last
                     : NextLocalTime(options_.digest_zone, options_.policy.digest.at_minutes, now);
  // hut's own alerts start from what happens next.
  absl::StatusOr<int64_t> seen = store_.LastEventId(options_.environment);
  events_seen_ = seen.ok() ? *seen : 0;
}

absl::Status AlertRouter::FollowEvents(std::vector<store::Alert>& fired) {
  for (;;) {
    HUT_ASSIGN_OR_RETURN(std::vector<store::Event> events,
                         store_.EventsAfter(events_seen_, 500, options_.environment));
    for (const store::Event& e : events) {
      events_seen_ = e.id;
      if (e.type == "secret.rotation-failed" || e.type == "secret.rotation-finished") {
        HUT_RETURN_IF_ERROR(FollowRotation(e, fired));
        continue;
      }
      const bool rolled_back = e.type == "rollout.rolled-back";
      const bool failed = e.type == "rollout.failed";
      const bool succeeded = e.type == "rollout.succeeded";
      if (!rolled_back && !failed && !succeeded) continue;
      ReceivedAlert a;
      a.labels = {{"alertname", failed ? "RolloutFailed" : "RolloutRolledBack"},
                  {"severity", failed ? "high" : "warning"},
                  {"environment", options_.environment},
                  {"service", e.service}};
      a.annotations = {
          {"summary", e.message},
          {"runbook_url", absl::StrCat(options_.policy.runbooks,
                                       failed ? "rollout-failed.md" : "rollout-rolled-back.md")}};
      a.starts_at = e.at;
      if (succeeded) {
        // A later rollout that succeeded ends a failed one's alert.
        a.labels["alertname"] = "RolloutFailed";
        a.labels["severity"] = "high";
        a.fingerprint = absl::StrCat("hut/rollout-failed/", e.service);
        a.firing = false;
        a.ends_at = e.at;
        HUT_RETURN_IF_ERROR(ReceiveOne(a, "hut", fired).status());
        continue;
      }
      a.fingerprint = failed ? absl::StrCat("hut/rollout-failed/", e.service)
                             : absl::StrCat("hut/rollout-rolled-back/", e.rollout_id);
      HUT_ASSIGN_OR_RETURN(bool raised, ReceiveOne(a, "hut", fired));
      if (raised && rolled_back) {
        // A notice: told once, nothing to resolve later.
        HUT_ASSIGN_OR_RETURN(std::optional<store::Alert> open,
                             store_.OpenAlert(options_.environment, a.fingerprint));
        if (open) {
          open->state = store::AlertState::kResolved;
          open->resolved_at = e.at;
          open->deadline.reset();
          HUT_RETURN_IF_ERROR(store_.SaveAlert(*open, {}, {}).status());
        }
      }
    }
    if (events.size() < 500) return absl::OkStatus();
  }
}

// A rotation that was rolled back is high (paged): the secret is as old as
// before and its schedule is not kept; the next rotation that finishes ends it.
absl::Status AlertRouter::FollowRotation(const store::Event& e, std::vector<store::Alert>& fired) {
  const std::string secret = e.data.value("secret", "");
  ReceivedAlert a;
  a.labels = {{"alertname", "SecretRotationFailed"},
              {"severity", "high"},
              {"environment", options_.environment},
              {"secret", secret}};
  a.annotations = {{"summary", e.message},
                   {"runbook_url", absl::StrCat(options_.policy.runbooks, "secret-rotation-failed.md")}};
  a.starts_at = e.at;
  a.fingerprint = absl::StrCat("hut/secret-rotation-failed/", secret);
  if (e.type == "secret.rotation-finished") {
    a.firing = false;
    a.ends_at = e.at;
  }
  return ReceiveOne(a, "hut", fired).status();
}

const spec::SeverityPolicy& AlertRouter::PolicyFor(const std::string& severity) const {
  return options_.policy.For(ParseSeverity(severity).value_or(spec::Severity::kWarning));
}

std::optional<TimePoint> AlertRouter::DeadlineFor(const std::string& severity,
                                                  TimePoint from) const {
  const spec::SeverityPolicy& p = PolicyFor(severity);
  if (p.next_business_day) return NextBusinessDayDeadline(options_.calendar, from);
  if (p.response_time) return from + *p.response_time;
  return std::nullopt;
}

TimePoint AlertRouter::DigestAtOrBefore(TimePoint t) const {
  const int at = options_.policy.digest.at_minutes;
  TimePoint x = NextLocalTime(options_.digest_zone, at, t - std::chrono::hours(50));
  while (true) {
    const TimePoint y = NextLocalTime(options_.digest_zone, at, x);
    if (y > t) return x;
    x = y;
  }
}

absl::StatusOr<int> AlertRouter::Receive(const WebhookNotification& notification) {
  std::vector<store::Alert> fired;
  int changed = 0;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    for (const ReceivedAlert& a : notification.alerts) {
      absl::StatusOr<bool> did = ReceiveOne(a, notification.receiver, fired);
      if (!did.ok()) {
        status = did.status();
        break;
      }
      changed += *did ? 1 : 0;
    }
  }
  if (changed > 0 && queued_) queued_();
  TellFired(fired);  // what was saved counts, even when a later alert was not
  if (!status.ok()) return status;
  return changed;
}

void AlertRouter::TellFired(const std::vector<store::Alert>& fired) {
  if (!options_.on_firing) return;
  for (const store::Alert& a : fired) options_.on_firing(a);
}

absl::StatusOr<bool> AlertRouter::ReceiveOne(const ReceivedAlert& a, const std::string& receiver,
                                             std::vector<store::Alert>& fired) {
  const std::string& env = options_.environment;
  HUT_ASSIGN_OR_RETURN(std::optional<store::Alert> open, store_.OpenAlert(env, a.fingerprint));
  const std::string name = a.Label("alertname");
  const std::string severity = a.Label("severity");
  const spec::AlertChannel channel = PolicyFor(severity).notify;
  const std::string summary = Annotation(a, "summary");
  const TimePoint now = clock_.Now();
  store::Event e;
  e.type = a.firing ? "alert.firing" : "alert.resolved";
  e.message = absl::StrCat(name, severity.empty() ? "" : absl::StrCat(" (", severity, ")"),
                           a.firing ? " firing" : " resolved",
                           summary.empty() ? "" : absl::StrCat(": ", summary));
  e.data = {{"alertname", name},
            {"severity", severity},
            {"fingerprint", a.fingerprint},
            {"labels", a.labels},
            {"annotations", a.annotations},
            {"starts_at", FormatTimestamp(a.starts_at)},
            {"receiver", receiver},
            {"notify", std::string(spec::Name(channel))}};
  if (a.ends_at) e.data["ends_at"] = FormatTimestamp(*a.ends_at);
  if (!a.generator_url.empty()) e.data["generator_url"] = a.generator_url;
  std::vector<store::Notification> queue;

  if (a.firing) {
    if (open) return false;  // a repeat: recorded when it started
    store::Alert alert;
    alert.environment = env;
    alert.fingerprint = a.fingerprint;
    alert.name = name;
    alert.severity = severity;
    alert.service = a.Label("service");
    alert.labels = a.labels;
    alert.annotations = a.annotations;
    if (!a.generator_url.empty()) alert.annotations[kSourceAnnotation] = a.generator_url;
    alert.starts_at = store::TruncateToMillis(a.starts_at);  // as the store keeps it
    alert.received_at = now;
    alert.deadline = DeadlineFor(severity, now);
    if (alert.deadline) e.data["deadline"] = FormatTimestamp(*alert.deadline);
    const ReceivedAlert r = ToReceived(alert, true);
    if (channel == spec::AlertChannel::kPage && options_.pagerduty) {
      queue.push_back(Queued(NotificationKey(alert, "page"), kPagerDuty, "",
                             PagerDutyEvent("", env, r)));
    } else if (channel != spec::AlertChannel::kDigest && options_.slack) {
      // Chat, or a page with no PagerDuty configured: chat is better than nothing.
      queue.push_back(Queued(NotificationKey(alert, "chat"), kSlack, "", SlackMessage(env, r)));
    }
    absl::StatusOr<store::Alert> saved = store_.SaveAlert(alert, std::move(queue), {e});
    if (saved.status().code() == absl::StatusCode::kAlreadyExists) return false;
    if (!saved.ok()) return saved.status();
    logger_.Info(e.message, {{"service", saved->service}, {"alert", saved->id}});
    fired.push_back(*saved);
    return true;
  }

  if (!open) return false;  // resolved before (or never seen firing)
  store::Alert alert = *open;
  alert.state = store::AlertState::kResolved;
  alert.resolved_at = a.ends_at.value_or(now);
  alert.deadline.reset();
  alert.updated_at = now;
  const ReceivedAlert r = ToReceived(alert, false);
  queue = IncidentActions(alert, "resolve");
  if (options_.slack && (channel == spec::AlertChannel::kChat ||
                         (channel == spec::AlertChannel::kPage && !options_.pagerduty))) {
    queue.push_back(
        Queued(NotificationKey(alert, "chat-resolved"), kSlack, "", SlackMessage(env, r)));
  }
  absl::StatusOr<store::Alert> saved = store_.SaveAlert(alert, std::move(queue), {e});
  if (!saved.ok()) return saved.status();
  logger_.Info(e.message, {{"service", saved->service}, {"alert", saved->id}});
  return true;
}

std::vector<store::Notification> AlertRouter::IncidentActions(const store::Alert& alert,
                                                              const std::string& action) const {
  std::vector<store::Notification> queue;
  if (!options_.pagerduty) return queue;
  const std::string base = DedupKey(alert.environment, ToReceived(alert, true));
  if (PolicyFor(alert.severity).notify == spec::AlertChannel::kPage) {
    queue.push_back(Queued(NotificationKey(alert, action), kPagerDuty, "",
                           PagerDutyAction("", action, base)));
  }
  const int levels = static_cast<int>(options_.policy.escalation.size());
  for (int k = 1; k <= alert.escalations; ++k) {
    queue.push_back(Queued(NotificationKey(alert, absl::StrCat("escalation-", k, "/", action)),
                           kPagerDuty, EscalationRecipient(k, levels),
                           PagerDutyAction("", action, EscalationDedupKey(base, k))));
  }
  return queue;
}

absl::StatusOr<store::Alert> AlertRouter::Acknowledge(int64_t id, const std::string& by) {
  absl::MutexLock lock(&mu_);
  HUT_ASSIGN_OR_RETURN(std::optional<store::Alert> found, store_.GetAlert(id));
  if (!found || found->environment != options_.environment) {
    return absl::NotFoundError(
        absl::StrCat("no alert ", id, " in environment ", options_.environment));
  }
  store::Alert alert = *found;
  if (alert.state == store::AlertState::kResolved) {
    return absl::FailedPreconditionError(
        absl::StrCat("alert ", id, " (", alert.name, ") is resolved already"));
  }
  if (alert.state == store::AlertState::kAcked) return alert;
  const TimePoint now = clock_.Now();
  alert.state = store::AlertState::kAcked;
  alert.acked_at = now;
  alert.acked_by = by;
  alert.deadline.reset();
  alert.updated_at = now;
  std::vector<store::Notification> queue = IncidentActions(alert, "acknowledge");
  store::Event e;
  e.type = "alert.acked";
  e.message = absl::StrCat(alert.name, " acknowledged", by.empty() ? "" : absl::StrCat(" by ", by));
  e.data = {{"alertname", alert.name}, {"severity", alert.severity},
            {"fingerprint", alert.fingerprint}, {"by", by}, {"escalations", alert.escalations}};
  const bool any = !queue.empty();
  HUT_ASSIGN_OR_RETURN(store::Alert saved, store_.SaveAlert(alert, std::move(queue), {e}));
  logger_.Info(e.message, {{"service", saved.service}, {"alert", saved.id}});
  if (any && queued_) queued_();
  return saved;
}

absl::Status AlertRouter::Escalate(store::Alert alert, TimePoint now) {
  const int k = alert.escalations + 1;
  const std::string recipient =
      EscalationRecipient(k, static_cast<int>(options_.policy.escalation.size()));
  alert.escalations = k;
  alert.deadline = DeadlineFor(alert.severity, now);
  alert.updated_at = now;
  ReceivedAlert r = ToReceived(alert, true);
  const std::string base = DedupKey(alert.environment, r);
  r.annotations["summary"] = absl::StrCat("[not acknowledged, escalation ", k, "] ",
                                          r.annotations["summary"].empty()
                                              ? alert.name
                                              : r.annotations["summary"]);
  std::vector<store::Notification> queue;
  std::string to;
  if (options_.pagerduty) {
    json event = PagerDutyEvent("", alert.environment, r);
    event["dedup_key"] = EscalationDedupKey(base, k);
    queue.push_back(Queued(NotificationKey(alert, absl::StrCat("escalation-", k)), kPagerDuty,
                           recipient, std::move(event)));
    to = recipient.empty() ? "pagerduty (first level again)" : absl::StrCat("pagerduty ", recipient);
  } else if (options_.slack) {
    queue.push_back(Queued(NotificationKey(alert, absl::StrCat("escalation-", k)), kSlack, "",
                           SlackMessage(alert.environment, r)));
    to = "slack";
  } else {
    to = "nobody (no channel configured)";
  }
  store::Event e;
  e.type = "alert.escalated";
  e.message = absl::StrCat(alert.name, " not acknowledged in time: escalation ", k, " to ", to);
  e.data = {{"alertname", alert.name}, {"severity", alert.severity},
            {"fingerprint", alert.fingerprint}, {"level", k}, {"to", to}};
  if (alert.deadline) e.data["deadline"] = FormatTimestamp(*alert.deadline);
  absl::StatusOr<store::Alert> saved = store_.SaveAlert(alert, std::move(queue), {e});
  if (!saved.ok()) return saved.status();
  logger_.Warn(e.message, {{"service", saved->service}, {"alert", saved->id}});
  return absl::OkStatus();
}

absl::Status AlertRouter::SendDigest(TimePoint send_at) {
  const TimePoint from = DigestAtOrBefore(send_at - std::chrono::milliseconds(1));
  HUT_ASSIGN_OR_RETURN(std::vector<store::Alert> alerts,
                       store_.ListAlerts({.environment = options_.environment,
                                          .state = std::nullopt,
                                          .received_since = from,
                                          .limit = kScanLimit}));
  std::vector<DigestEntry> entries;
  for (auto it = alerts.rbegin(); it != alerts.rend(); ++it) {  // oldest first
    if (it->received_at >= send_at) continue;
    if (PolicyFor(it->severity).notify != spec::AlertChannel::kDigest) continue;
    const auto summary = it->annotations.find("summary");
    entries.push_back({.name = it->name,
                       .service = it->service,
                       .summary = summary != it->annotations.end() && summary->is_string()
                                      ? summary->get<std::string>()
                                      : "",
                       .at = it->received_at,
                       .resolved = it->state == store::AlertState::kResolved &&
                                   it->resolved_at && *it->resolved_at < send_at});
  }
  const absl::CivilDay day = LocalDay(options_.digest_zone, send_at);
  const std::string day_name = absl::FormatCivilTime(day);
  store::Notification n =
      Queued(absl::StrCat("hut/", options_.environment, "/digest/", day_name), kSlack, "",
             SlackDigest(options_.environment, day_name, entries));
  n.environment = options_.environment;
  store::Event e;
  e.environment = options_.environment;
  e.type = "alert.digest";
  e.message = absl::StrCat("daily digest of ", day_name, ": ", entries.size(), " info alert",
                           entries.size() == 1 ? "" : "s");
  e.data = {{"day", day_name}, {"alerts", entries.size()}, {"from", FormatTimestamp(from)},
            {"to", FormatTimestamp(send_at)}};
  HUT_ASSIGN_OR_RETURN(int added, store_.QueueNotifications({n}, {}));
  if (added == 0) return absl::OkStatus();  // sent before a restart
  if (absl::Status s = store_.AppendEvent(e).status(); !s.ok()) {
    logger_.Warn("cannot record the digest", {{"error", s.ToString()}});
  }
  logger_.Info(e.message);
  if (queued_) queued_();
  return absl::OkStatus();
}

TimePoint AlertRouter::Tick(TimePoint now) {
  std::vector<store::Alert> fired;
  const TimePoint next = RunTick(now, fired);
  if (!fired.empty() && queued_) queued_();
  TellFired(fired);
  return next;
}

TimePoint AlertRouter::RunTick(TimePoint now, std::vector<store::Alert>& fired) {
  absl::MutexLock lock(&mu_);
  TimePoint next = TimePoint::max();
  if (absl::Status s = FollowEvents(fired); !s.ok()) {
    logger_.Warn("cannot read hut's events for its own alerts: tried again",
                 {{"error", s.ToString()}});
  }
  if (options_.slack) {
    if (now >= next_digest_) {
      if (absl::Status s = SendDigest(next_digest_); s.ok()) {
        next_digest_ =
            NextLocalTime(options_.digest_zone, options_.policy.digest.at_minutes, next_digest_);
      } else {
        logger_.Warn("cannot queue the daily digest: tried again", {{"error", s.ToString()}});
      }
    }
    next = std::min(next, std::max(next_digest_, now + std::chrono::seconds(1)));
  }
  absl::StatusOr<std::vector<store::Alert>> firing =
      store_.ListAlerts({.environment = options_.environment,
                         .state = store::AlertState::kFiring,
                         .received_since = std::nullopt,
                         .limit = kScanLimit});
  if (!firing.ok()) {
    logger_.Warn("cannot read the firing alerts", {{"error", firing.status().ToString()}});
    return std::min(next, now + std::chrono::seconds(5));
  }
  bool escalated = false;
  for (const store::Alert& a : *firing) {
    if (!a.deadline) continue;
    if (*a.deadline > now) {
      next = std::min(next, *a.deadline);
      continue;
    }
    if (absl::Status s = Escalate(a, now); !s.ok()) {
      logger_.Warn("cannot escalate an alert: tried again",
                   {{"alert", a.id}, {"error", s.ToString()}});
      next = std::min(next, now + std::chrono::seconds(5));
      continue;
    }
    escalated = true;
    if (std::optional<TimePoint> d = DeadlineFor(a.severity, now)) next = std::min(next, *d);
  }
  if (escalated && queued_) queued_();
  return next;
}

}  // namespace hut::alerting
