#include "src/alerting/messages.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "src/common/log.h"

namespace hut::alerting {
namespace {

using json = nlohmann::json;

// PagerDuty's summary limit, Slack's header limit.
constexpr size_t kSummaryMax = 1024;
constexpr size_t kHeaderMax = 150;

std::string Cut(std::string s, size_t max) {
  if (s.size() <= max) return s;
  s.resize(max - 3);
  // Not in the middle of a UTF-8 sequence.
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80) != 0) s.pop_back();
  return s + "...";
}

std::string Annotation(const ReceivedAlert& a, const std::string& name) {
  auto it = a.annotations.find(name);
  return it == a.annotations.end() ? "" : it->second;
}

bool IsUrl(const std::string& s) { return s.starts_with("https://") || s.starts_with("http://"); }

// The one-line summary: the alert's own, else its name and service.
std::string Summary(const std::string& environment, const ReceivedAlert& a) {
  std::string s = Annotation(a, "summary");
  if (s.empty()) {
    s = absl::StrCat(a.Label("alertname"), " for ",
                     a.Label("service").empty() ? environment : a.Label("service"));
  }
  return s;
}

// What links there are: the runbook and the alert's source, as URLs.
std::vector<std::pair<std::string, std::string>> Links(const ReceivedAlert& a) {
  std::vector<std::pair<std::string, std::string>> links;
  if (const std::string runbook = Annotation(a, "runbook_url"); IsUrl(runbook)) {
    links.emplace_back(runbook, "Runbook");
  }
  if (IsUrl(a.generator_url)) links.emplace_back(a.generator_url, "Source (Prometheus)");
  return links;
}

}  // namespace

std::string DedupKey(const std::string& environment, const ReceivedAlert& alert) {
  return Cut(absl::StrCat("hut/", environment, "/", alert.Label("alertname"), "/",
                          alert.fingerprint),
             255);
}

std::string PagerDutySeverity(const std::string& severity) {
  if (severity == "critical") return "critical";
  if (severity == "high") return "error";
  if (severity == "info") return "info";
  return "warning";
}

json PagerDutyEvent(const std::string& routing_key, const std::string& environment,
                    const ReceivedAlert& alert) {
  json event = {{"routing_key", routing_key},
                {"event_action", alert.firing ? "trigger" : "resolve"},
                {"dedup_key", DedupKey(environment, alert)}};
  if (!alert.firing) return event;
  json details = json::object();
  for (const auto& [k, v] : alert.labels) details[k] = v;
  if (const std::string d = Annotation(alert, "description"); !d.empty()) details["description"] = d;
  if (const std::string r = Annotation(alert, "runbook_url"); !r.empty()) details["runbook"] = r;
  const std::string service = alert.Label("service");
  event["payload"] = {
      {"summary", Cut(Summary(environment, alert), kSummaryMax)},
      {"source", service.empty() ? absl::StrCat("foohut-", environment)
                                 : absl::StrCat(service, ".", environment)},
      {"severity", PagerDutySeverity(alert.Label("severity"))},
      {"timestamp", FormatTimestamp(alert.starts_at)},
      {"component", service},
      {"group", environment},
      {"class", alert.Label("alertname")},
      {"custom_details", details}};
  json links = json::array();
  for (const auto& [href, text] : Links(alert)) links.push_back({{"href", href}, {"text", text}});
  if (!links.empty()) event["links"] = links;
  event["client"] = "hut";
  return event;
}

json PagerDutyAction(const std::string& routing_key, const std::string& action,
                     const std::string& dedup_key) {
  return {{"routing_key", routing_key}, {"event_action", action}, {"dedup_key", dedup_key}};
}

json SlackDigest(const std::string& environment, const std::string& day,
                 const std::vector<DigestEntry>& entries) {
  constexpr size_t kMaxLines = 40;
  const std::string title = absl::StrCat("Daily digest, ", environment, ", ", day, ": ",
                                         entries.size(), " info alert",
                                         entries.size() == 1 ? "" : "s");
  json blocks = json::array(
      {{{"type", "header"},
        {"text", {{"type", "plain_text"}, {"text", Cut(title, kHeaderMax)}, {"emoji", false}}}}});
  std::string lines;
  for (size_t i = 0; i < entries.size() && i < kMaxLines; ++i) {
    const DigestEntry& e = entries[i];
    absl::StrAppend(&lines, "• *", e.name, "*", e.service.empty() ? "" : absl::StrCat(" (", e.service, ")"),
                    " at ", FormatTimestamp(e.at), e.resolved ? ", resolved" : ", still firing",
                    e.summary.empty() ? "" : absl::StrCat(": ", e.summary), "\n");
  }
  if (entries.size() > kMaxLines) {
    absl::StrAppend(&lines, "… and ", entries.size() - kMaxLines, " more (hut alerts list)\n");
  }
  if (entries.empty()) lines = "No info alerts.";
  blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", Cut(lines, 3000)}}}});
  return {{"text", title}, {"blocks", blocks}};
}

json SlackMessage(const std::string& environment, const ReceivedAlert& alert) {
  const std::string state = alert.firing ? "Firing" : "Resolved";
  const std::string service = alert.Label("service");
  const std::string title = absl::StrCat(state, ": ", alert.Label("alertname"),
                                         service.empty() ? "" : absl::StrCat(" (", service, ")"));
  const std::string summary = Summary(environment, alert);
  json fields = json::array({
      {{"type", "mrkdwn"}, {"text", absl::StrCat("*Severity*\n", alert.Label("severity"))}},
      {{"type", "mrkdwn"}, {"text", absl::StrCat("*Environment*\n", environment)}},
      {{"type", "mrkdwn"},
       {"text", absl::StrCat("*Since*\n", FormatTimestamp(alert.starts_at))}},
  });
  if (!service.empty()) {
    fields.push_back({{"type", "mrkdwn"}, {"text", absl::StrCat("*Service*\n", service)}});
  }
  json blocks = json::array({
      {{"type", "header"},
       {"text", {{"type", "plain_text"}, {"text", Cut(title, kHeaderMax)}, {"emoji", false}}}},
      {{"type", "section"},
       {"text", {{"type", "mrkdwn"}, {"text", Cut(summary, 3000)}}},
       {"fields", fields}},
  });
  const std::string runbook = Annotation(alert, "runbook_url");
  json buttons = json::array();
  for (const auto& [href, text] : Links(alert)) {
    buttons.push_back(
        {{"type", "button"}, {"text", {{"type", "plain_text"}, {"text", text}}}, {"url", href}});
  }
  if (!buttons.empty()) {
    blocks.push_back({{"type", "actions"}, {"elements", buttons}});
  } else if (!runbook.empty()) {  // a path, not a link: said, not linked
    blocks.push_back({{"type", "context"},
                      {"elements", json::array({{{"type", "mrkdwn"},
                                                 {"text", absl::StrCat("Runbook: ", runbook)}}})}});
  }
  return {{"text", absl::StrCat(title, ": ", summary)}, {"blocks", blocks}};
}

}  // namespace hut::alerting
