#include "testing/alert_receivers.h"

#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace hut::testing {
namespace {

using json = nlohmann::json;

bool IsString(const json& j, const char* key) { return j.contains(key) && j[key].is_string(); }

void CheckOptionalString(const json& j, const char* key, const std::string& where,
                         std::vector<std::string>& p) {
  if (j.contains(key) && !j[key].is_string()) p.push_back(absl::StrCat(where, key, ": not a string"));
}

// Slack's text object: {type: plain_text|mrkdwn, text (<= max)}.
void CheckText(const json& t, const std::string& where, size_t max, bool plain_only,
               std::vector<std::string>& p) {
  if (!t.is_object() || !IsString(t, "type") || !IsString(t, "text")) {
    p.push_back(absl::StrCat(where, ": not a text object {type, text}"));
    return;
  }
  const std::string type = t["type"];
  if (type != "plain_text" && (plain_only || type != "mrkdwn")) {
    p.push_back(absl::StrCat(where, ".type: ", type, plain_only ? " (expected plain_text)" : ""));
  }
  const size_t n = t["text"].get<std::string>().size();
  if (n == 0 || n > max) p.push_back(absl::StrCat(where, ".text: ", n, " characters (1 to ", max, ")"));
}

}  // namespace

std::vector<std::string> PagerDutyEventProblems(const json& e) {
  std::vector<std::string> p;
  if (!e.is_object()) return {"the body is not a JSON object"};
  for (const auto& [k, v] : e.items()) {
    static const std::set<std::string> kKeys = {"routing_key", "event_action", "dedup_key",
                                                "payload",     "images",       "links",
                                                "client",      "client_url"};
    if (!kKeys.contains(k)) p.push_back(absl::StrCat("unknown field ", k));
  }
  if (!IsString(e, "routing_key") || e["routing_key"].get<std::string>().size() != 32) {
    p.push_back("routing_key: missing or not 32 characters");
  }
  const std::string action = IsString(e, "event_action") ? e["event_action"].get<std::string>() : "";
  if (action != "trigger" && action != "acknowledge" && action != "resolve") {
    p.push_back(absl::StrCat("event_action: \"", action, "\" (expected trigger, acknowledge or resolve)"));
  }
  if (e.contains("dedup_key")) {
    if (!e["dedup_key"].is_string() || e["dedup_key"].get<std::string>().empty() ||
        e["dedup_key"].get<std::string>().size() > 255) {
      p.push_back("dedup_key: not a string of 1 to 255 characters");
    }
  } else if (action != "trigger") {
    p.push_back(absl::StrCat("dedup_key: required for ", action));
  }
  if (action != "trigger") {
    if (e.contains("payload")) p.push_back(absl::StrCat("payload: not taken with ", action));
    return p;
  }
  if (!e.contains("payload") || !e["payload"].is_object()) {
    p.push_back("payload: required for trigger");
    return p;
  }
  const json& pl = e["payload"];
  if (!IsString(pl, "summary") || pl["summary"].get<std::string>().empty() ||
      pl["summary"].get<std::string>().size() > 1024) {
    p.push_back("payload.summary: required, 1 to 1024 characters");
  }
  if (!IsString(pl, "source") || pl["source"].get<std::string>().empty()) {
    p.push_back("payload.source: required");
  }
  static const std::set<std::string> kSeverities = {"critical", "error", "warning", "info"};
  if (!IsString(pl, "severity") || !kSeverities.contains(pl["severity"].get<std::string>())) {
    p.push_back("payload.severity: required, one of critical, error, warning, info");
  }
  if (pl.contains("timestamp")) {
    absl::Time t;
    std::string err;
    if (!pl["timestamp"].is_string() ||
        !absl::ParseTime(absl::RFC3339_full, pl["timestamp"].get<std::string>(), &t, &err)) {
      p.push_back("payload.timestamp: not an ISO 8601 time");
    }
  }
  for (const char* k : {"component", "group", "class"}) CheckOptionalString(pl, k, "payload.", p);
  if (pl.contains("custom_details") && !pl["custom_details"].is_object()) {
    p.push_back("payload.custom_details: not an object");
  }
  if (e.contains("links")) {
    if (!e["links"].is_array()) {
      p.push_back("links: not an array");
    } else {
      for (size_t i = 0; i < e["links"].size(); ++i) {
        const json& l = e["links"][i];
        if (!IsString(l, "href")) p.push_back(absl::StrCat("links[", i, "].href: required"));
        CheckOptionalString(l, "text", absl::StrCat("links[", i, "]."), p);
      }
    }
  }
  return p;
}

std::vector<std::string> SlackMessageProblems(const json& m) {
  std::vector<std::string> p;
  if (!m.is_object()) return {"the body is not a JSON object"};
  if (!IsString(m, "text") && !m.contains("blocks")) p.push_back("no text and no blocks");
  if (IsString(m, "text") && m["text"].get<std::string>().size() > 40000) p.push_back("text: too long");
  if (!m.contains("blocks")) return p;
  const json& blocks = m["blocks"];
  if (!blocks.is_array() || blocks.empty() || blocks.size() > 50) {
    p.push_back("blocks: not an array of 1 to 50 blocks");
    return p;
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const json& b = blocks[i];
    const std::string where = absl::StrCat("blocks[", i, "]");
    const std::string type = IsString(b, "type") ? b["type"].get<std::string>() : "";
    if (type == "header") {
      if (!b.contains("text")) p.push_back(absl::StrCat(where, ".text: required"));
      else CheckText(b["text"], where + ".text", 150, true, p);
    } else if (type == "section") {
      if (!b.contains("text") && !b.contains("fields")) {
        p.push_back(absl::StrCat(where, ": a section needs text or fields"));
      }
      if (b.contains("text")) CheckText(b["text"], where + ".text", 3000, false, p);
      if (b.contains("fields")) {
        if (!b["fields"].is_array() || b["fields"].size() > 10) {
          p.push_back(absl::StrCat(where, ".fields: not an array of at most 10"));
        } else {
          for (size_t f = 0; f < b["fields"].size(); ++f) {
            CheckText(b["fields"][f], absl::StrCat(where, ".fields[", f, "]"), 2000, false, p);
          }
        }
      }
    } else if (type == "actions" || type == "context") {
      const size_t max = type == "actions" ? 25 : 10;
      if (!b.contains("elements") || !b["elements"].is_array() || b["elements"].empty() ||
          b["elements"].size() > max) {
        p.push_back(absl::StrCat(where, ".elements: not an array of 1 to ", max));
        continue;
      }
      for (size_t k = 0; k < b["elements"].size(); ++k) {
        const json& el = b["elements"][k];
        const std::string ew = absl::StrCat(where, ".elements[", k, "]");
        if (type == "context") {
          CheckText(el, ew, 3000, false, p);
        } else if (!IsString(el, "type") || el["type"] != "button") {
          p.push_back(absl::StrCat(ew, ".type: expected button"));
        } else {
          if (!el.contains("text")) p.push_back(absl::StrCat(ew, ".text: required"));
          else CheckText(el["text"], ew + ".text", 75, true, p);
          if (el.contains("url") &&
              (!el["url"].is_string() || el["url"].get<std::string>().size() > 3000)) {
            p.push_back(absl::StrCat(ew, ".url: not a URL of at most 3000 characters"));
          }
        }
      }
    } else if (type != "divider") {
      p.push_back(absl::StrCat(where, ".type: \"", type, "\" is not a block type hut sends"));
    }
  }
  return p;
}

AlertReceiver::~AlertReceiver() { Stop(); }

uint16_t AlertReceiver::port() const { return port_; }

absl::Status AlertReceiver::Listen(uint16_t port) {
  http::ServerOptions o;
  o.port = port;
  o.worker_threads = 4;
  auto server = http::Server::Start(o, [this](const http::Request& r) { return Handle(r); });
  if (!server.ok()) return server.status();
  server_ = std::move(*server);
  port_ = server_->port();
  return absl::OkStatus();
}

void AlertReceiver::Fail(int status, std::optional<int> retry_after) {
  absl::MutexLock lock(&mu_);
  fail_status_ = status;
  retry_after_ = retry_after;
}

void AlertReceiver::HoldAnswers(bool hold) {
  absl::MutexLock lock(&mu_);
  hold_ = hold;
}

void AlertReceiver::Stop() {
  if (server_) server_->Shutdown(std::chrono::milliseconds(0));
  server_.reset();
}

absl::Status AlertReceiver::Restart() {
  Stop();
  return Listen(port_);
}

std::vector<json> AlertReceiver::taken() const {
  absl::MutexLock lock(&mu_);
  return taken_;
}

std::vector<std::string> AlertReceiver::problems() const {
  absl::MutexLock lock(&mu_);
  return problems_;
}

int AlertReceiver::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

bool AlertReceiver::WaitForTaken(size_t n, std::chrono::milliseconds timeout) const {
  absl::MutexLock lock(&mu_);
  const auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return taken_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::FromChrono(timeout));
}

http::Response AlertReceiver::Handle(const http::Request& request) {
  absl::MutexLock lock(&mu_);
  ++requests_;
  if (fail_status_ != 0) {
    http::Response r = http::Response::Text(fail_status_, "unavailable");
    if (retry_after_) r.SetHeader("Retry-After", std::to_string(*retry_after_));
    return r;
  }
  std::vector<std::string> problems;
  if (request.method != "POST") problems.push_back(absl::StrCat("method ", request.method, " (expected POST)"));
  const std::optional<std::string> type = request.Header("Content-Type");
  if (!type || type->rfind("application/json", 0) != 0) {
    problems.push_back("Content-Type: expected application/json");
  }
  http::Response answer = Take(request, problems);
  for (const std::string& p : problems) problems_.push_back(p);
  const auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !hold_; };
  mu_.AwaitWithTimeout(absl::Condition(&released), absl::Seconds(60));
  return answer;
}

absl::StatusOr<std::unique_ptr<PagerDutyReceiver>> PagerDutyReceiver::Start(
    std::vector<std::string> routing_keys) {
  std::unique_ptr<PagerDutyReceiver> r(new PagerDutyReceiver());
  r->routing_keys_ = std::move(routing_keys);
  if (absl::Status s = r->Listen(0); !s.ok()) return s;
  return r;
}

std::string PagerDutyReceiver::url() const {
  return absl::StrCat("http://127.0.0.1:", port(), "/v2/enqueue");
}

std::map<std::string, PagerDutyReceiver::Incident> PagerDutyReceiver::incidents() const {
  absl::MutexLock lock(&mu_);
  return incidents_;
}

http::Response PagerDutyReceiver::Take(const http::Request& request,
                                       std::vector<std::string>& problems) {
  if (request.path != "/v2/enqueue") problems.push_back(absl::StrCat("path ", request.path));
  json e = json::parse(request.body, nullptr, false);
  if (e.is_discarded()) {
    problems.push_back("the body is not JSON");
  } else {
    for (std::string& p : PagerDutyEventProblems(e)) problems.push_back(std::move(p));
  }
  if (problems.empty()) {
    const std::string key = e["routing_key"];
    if (std::find(routing_keys_.begin(), routing_keys_.end(), key) == routing_keys_.end()) {
      problems.push_back("routing_key: not an integration key of this account");
    }
  }
  if (!problems.empty()) {
    return http::Response::Json(400, {{"status", "invalid event"},
                                      {"message", "Event object is invalid"},
                                      {"errors", problems}});
  }
  const std::string action = e["event_action"];
  std::string dedup = e.value("dedup_key", "");
  if (dedup.empty()) dedup = absl::StrCat("generated-", taken_.size());
  Incident& incident = incidents_[dedup];
  if (action == "trigger") {
    // A trigger for an open incident adds to it; after a resolve it opens a new one.
    if (incident.status.empty() || incident.status == "resolved") {
      incident.status = "triggered";
      incident.payload = e["payload"];
      incident.routing_key = e["routing_key"];
    }
    ++incident.triggers;
  } else if (!incident.status.empty() && incident.status != "resolved") {
    incident.status = action == "acknowledge" ? "acknowledged" : "resolved";
  }
  taken_.push_back(e);
  return http::Response::Json(
      202, {{"status", "success"}, {"message", "Event processed"}, {"dedup_key", dedup}});
}

absl::StatusOr<std::unique_ptr<SlackReceiver>> SlackReceiver::Start() {
  std::unique_ptr<SlackReceiver> r(new SlackReceiver());
  if (absl::Status s = r->Listen(0); !s.ok()) return s;
  return r;
}

std::string SlackReceiver::url() const {
  return absl::StrCat("http://127.0.0.1:", port(), "/services/T000/B000/XXXX");
}

http::Response SlackReceiver::Take(const http::Request& request,
                                   std::vector<std::string>& problems) {
  if (request.path != "/services/T000/B000/XXXX") {
    return http::Response::Text(404, "no_service");  // Slack's answer to a wrong webhook
  }
  json m = json::parse(request.body, nullptr, false);
  if (m.is_discarded()) {
    problems.push_back("the body is not JSON");
  } else {
    for (std::string& p : SlackMessageProblems(m)) problems.push_back(std::move(p));
  }
  if (!problems.empty()) return http::Response::Text(400, "invalid_blocks");
  taken_.push_back(m);
  return http::Response::Text(200, "ok");
}

}  // namespace hut::testing
