#include "src/cli/api_client.h"

#include <cctype>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/http/client.h"
#include "src/http/sse.h"

namespace hut::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::optional<std::string> NonEmptyEnv(const Io& io, const std::string& name) {
  if (!io.getenv) return std::nullopt;
  std::optional<std::string> value = io.getenv(name);
  if (!value || value->empty()) return std::nullopt;
  return value;
}

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string Encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The API's status codes back to the status they were made from (control_api.cc).
absl::StatusCode CodeOf(int http_status) {
  switch (http_status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kFailedPrecondition;
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 503:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::StatusOr<ServerTarget> ResolveServer(const Io& io, const std::string& current_dir) {
  ServerTarget target;
  const std::optional<std::string> addr = NonEmptyEnv(io, "HUT_ADDR");
  absl::StatusOr<server::HostPort> address =
      server::ParseHostPort(addr.value_or(server::kDefaultAddress));
  if (!address.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("HUT_ADDR: ", address.status().message()));
  }
  target.address = *address;

  if (std::optional<std::string> token = NonEmptyEnv(io, "HUT_TOKEN")) {
    target.token = Secret(*token);
    target.token_source = "$HUT_TOKEN";
    return target;
  }
  // A file named explicitly must work; the places looked at by default may be absent.
  if (std::optional<std::string> file = NonEmptyEnv(io, "HUT_TOKEN_FILE")) {
    HUT_ASSIGN_OR_RETURN(Secret token, server::ReadToken(*file));
    target.token = std::move(token);
    target.token_source = absl::StrCat(*file, " ($HUT_TOKEN_FILE)");
    return target;
  }
  // The pointer of the server at this very address comes before a token
  // file that merely lies in the current folder (which may be another
  // server's).
  const std::optional<std::string> pointer =
      server::PointerPath(io.getenv ? io.getenv("HOME") : std::nullopt, target.address);
  if (pointer) {
    absl::StatusOr<server::ServerInfo> info = server::ReadPointer(*pointer);
    if (info.ok() && !info->token_file.empty()) {
      HUT_ASSIGN_OR_RETURN(Secret token, server::ReadToken(info->token_file));
      target.token = std::move(token);
      target.token_source = absl::StrCat(info->token_file, " (named by ", *pointer, ")");
      return target;
    }
  }
  const std::string local = (fs::path(current_dir) / server::kStateDirName / server::kTokenFileName)
                                .lexically_normal()
                                .string();
  std::error_code ec;
  if (fs::exists(local, ec)) {
    HUT_ASSIGN_OR_RETURN(Secret token, server::ReadToken(local));
    target.token = std::move(token);
    target.token_source = local;
    return target;
  }
  target.token_source = absl::StrCat("looked at $HUT_TOKEN, $HUT_TOKEN_FILE, ",
                                     pointer ? *pointer : "no server pointer ($HOME is unset)",
                                     " and ", local);
  return target;
}

absl::StatusOr<ApiClient> Connect(const std::string& env_flag, const Io& io) {
  std::error_code ec;
  const fs::path current = fs::current_path(ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot get the current folder: ", ec.message()));
  HUT_ASSIGN_OR_RETURN(ServerTarget target, ResolveServer(io, current.string()));
  std::string environment = env_flag;
  if (environment.empty()) environment = NonEmptyEnv(io, "HUT_ENV").value_or("");
  return ApiClient(std::move(target), std::move(environment));
}

ApiClient::ApiClient(ServerTarget target, std::string environment,
                     std::chrono::milliseconds timeout)
    : target_(std::move(target)), environment_(std::move(environment)), timeout_(timeout) {}

namespace {

// A request to `path` with ?env=, the query and the token.
http::ClientRequest MakeRequest(const ServerTarget& target, const std::string& environment,
                                const std::string& method, const std::string& path,
                                std::map<std::string, std::string> query,
                                std::chrono::milliseconds timeout) {
  if (!environment.empty()) query["env"] = environment;
  http::ClientRequest request;
  request.method = method;
  request.host = target.address.host;
  request.port = target.address.port;
  request.target = path;
  char separator = '?';
  for (const auto& [key, value] : query) {
    absl::StrAppend(&request.target, std::string(1, separator), key, "=", Encode(value));
    separator = '&';
  }
  request.timeout = timeout;
  if (target.token) {
    request.headers.emplace("Authorization", absl::StrCat("Bearer ", target.token->Reveal()));
  }
  return request;
}

// A transport failure as a user reads it; `timeout` is the one that ran out.
absl::Status TransportError(const ServerTarget& target, const absl::Status& status,
                            std::chrono::milliseconds timeout) {
  const std::string address = target.address.ToString();
  if (absl::IsDeadlineExceeded(status)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the hut server at ", address, " did not answer within ", timeout.count(), " ms"));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot reach the hut server at ", address,
                   " (start it with `hut up`; set HUT_ADDR to use another address)"));
}

// A non-2xx answer to `method` `path` as a status.
absl::Status HttpError(const ServerTarget& target, const http::ClientResponse& response,
                       const std::string& method, const std::string& path) {
  const std::string address = target.address.ToString();
  if (response.status == 401) {
    return absl::UnauthenticatedError(
        target.token
            ? absl::StrCat("the hut server at ", address, " refused the admin token read from ",
                           target.token_source,
                           ": it is not this server's token (the server keeps it in its state "
                           "folder as admin-token)")
            : absl::StrCat("no admin token for the hut server at ", address, ": ",
                           target.token_source,
                           " (set HUT_TOKEN or HUT_TOKEN_FILE, or run hut where `hut up` runs)"));
  }
  const json answer = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  std::string message;
  if (answer.is_object() && answer.contains("error") && answer["error"].is_object() &&
      answer["error"].value("message", json()).is_string()) {
    message = answer["error"]["message"].get<std::string>();
  } else {
    message = absl::StrCat("HTTP ", response.status, " from ", address, " for ", method, " ", path,
                           ": ", response.body.substr(0, 200));
  }
  return absl::Status(CodeOf(response.status), message);
}

}  // namespace

absl::StatusOr<json> ApiClient::Call(const std::string& method, const std::string& path,
                                     std::map<std::string, std::string> query, const json* body) {
  http::ClientRequest request =
      MakeRequest(target_, environment_, method, path, std::move(query), timeout_);
  request.headers.emplace("Accept", "application/json");
  if (body != nullptr) {
    request.headers.emplace("Content-Type", "application/json");
    request.body = body->dump();
  }
  absl::StatusOr<http::ClientResponse> response = http::Fetch(request);
  WipeString(request.body);  // it may carry a secret (hut secrets set)
  if (!response.ok()) return TransportError(target_, response.status(), timeout_);
  if (response->status < 200 || response->status > 299) {
    return HttpError(target_, *response, method, path);
  }
  json answer = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  WipeString(response->body);  // so may the answer (hut secrets get --reveal)
  if (answer.is_discarded() || !answer.is_object()) {
    return absl::DataLossError(absl::StrCat("the server at ", target_.address.ToString(),
                                            " answered ", method, " ", path,
                                            " with something that is not a JSON object; "
                                            "is it a hut server?"));
  }
  return answer;
}

absl::Status ApiClient::StreamEvents(int64_t after, const std::string& service,
                                     std::chrono::milliseconds idle,
                                     const EventBatchCallback& on_events) {
  const std::string path = "/api/v1/events/stream";
  std::map<std::string, std::string> query = {{"after", std::to_string(after)}};
  if (!service.empty()) query["service"] = service;
  http::ClientRequest request =
      MakeRequest(target_, environment_, "GET", path, std::move(query), idle);
  request.headers.emplace("Accept", "text/event-stream");
  // For a proxy that resumes on its own; the server reads ?after= first.
  request.headers.emplace("Last-Event-ID", std::to_string(after));
  const std::string address = target_.address.ToString();
  http::SseParser parser;
  absl::Status stopped;  // why the callback below ended the stream, if it did
  absl::StatusOr<http::ClientResponse> response =
      http::FetchStream(request, [&](std::string_view piece) {
        absl::StatusOr<std::vector<http::SseEvent>> events = parser.Feed(piece);
        if (!events.ok()) {
          stopped = absl::UnavailableError(absl::StrCat(
              "the event stream of the hut server at ", address, ": ", events.status().message()));
          return false;
        }
        std::vector<json> batch;
        for (const http::SseEvent& e : *events) {
          if (e.event == "error") {  // the server could not read its log; it ends the stream
            const json data = json::parse(e.data, nullptr, /*allow_exceptions=*/false);
            stopped = absl::UnavailableError(absl::StrCat(
                "the hut server at ", address, " reported on its event stream: ",
                data.is_object() && data.value("message", json()).is_string()
                    ? data["message"].get<std::string>()
                    : e.data));
            break;
          }
          json event = json::parse(e.data, nullptr, /*allow_exceptions=*/false);
          if (!event.is_object() || !event.value("id", json()).is_number_integer()) {
            stopped = absl::DataLossError(absl::StrCat("the hut server at ", address,
                                                       " sent an event that is not one: ",
                                                       e.data.substr(0, 200)));
            break;
          }
          batch.push_back(std::move(event));
        }
        if (!batch.empty() && !on_events(batch)) return false;
        return stopped.ok();
      });
  if (!stopped.ok()) return stopped;
  if (!response.ok()) {
    if (absl::IsDeadlineExceeded(response.status())) {
      return absl::DeadlineExceededError(
          absl::StrCat("the event stream of the hut server at ", address, " was silent for ",
                       idle.count(), " ms"));
    }
    if (absl::IsInvalidArgument(response.status())) return response.status();
    return TransportError(target_, response.status(), idle);
  }
  if (response->status < 200 || response->status > 299) {
    return HttpError(target_, *response, "GET", path);
  }
  return absl::OkStatus();
}

absl::StatusOr<json> ApiClient::Services() { return Call("GET", "/api/v1/services", {}, nullptr); }

absl::StatusOr<json> ApiClient::Rollout(const std::string& service) {
  return Call("GET", absl::StrCat("/api/v1/services/", Encode(service), "/rollout"), {}, nullptr);
}

absl::StatusOr<json> ApiClient::History(const std::string& service) {
  return Call("GET", absl::StrCat("/api/v1/services/", Encode(service), "/history"), {}, nullptr);
}

absl::StatusOr<json> ApiClient::Logs(const std::string& service,
                                     const std::map<std::string, std::string>& query) {
  return Call("GET", absl::StrCat("/api/v1/services/", Encode(service), "/logs"), query, nullptr);
}

absl::StatusOr<json> ApiClient::Alerts(const std::string& state, int limit) {
  std::map<std::string, std::string> query = {{"limit", std::to_string(limit)}};
  if (!state.empty()) query["state"] = state;
  return Call("GET", "/api/v1/alerts", query, nullptr);
}

absl::StatusOr<json> ApiClient::AcknowledgeAlert(int64_t id, const std::string& by) {
  json body = {{"by", by}};
  return Call("POST", absl::StrCat("/api/v1/alerts/", id, "/ack"), {}, &body);
}

absl::StatusOr<json> ApiClient::Secrets() { return Call("GET", "/api/v1/secrets", {}, nullptr); }

absl::StatusOr<json> ApiClient::SecretOf(const std::string& name, bool reveal,
                                         const std::string& by) {
  std::map<std::string, std::string> query;
  if (reveal) query = {{"reveal", "true"}, {"by", by}};
  return Call("GET", absl::StrCat("/api/v1/secrets/", name), std::move(query), nullptr);
}

absl::StatusOr<json> ApiClient::RotateSecret(const std::string& name, const std::string& by) {
  json body = {{"by", by}};
  return Call("POST", absl::StrCat("/api/v1/secrets/", name, "/rotate"), {}, &body);
}

absl::StatusOr<json> ApiClient::SetSecret(const std::string& name, const Secret& value,
                                          const std::string& by) {
  json body = {{"value", value.Reveal()}, {"by", by}};
  absl::StatusOr<json> answer = Call("PUT", absl::StrCat("/api/v1/secrets/", name), {}, &body);
  WipeString(body["value"].get_ref<std::string&>());
  return answer;
}

absl::StatusOr<json> ApiClient::Silence(const std::vector<std::string>& matchers,
                                        const std::string& length, const std::string& comment,
                                        const std::string& by) {
  json body = {{"matchers", matchers}, {"for", length}, {"comment", comment}, {"by", by}};
  return Call("POST", "/api/v1/alerts/silences", {}, &body);
}

absl::StatusOr<json> ApiClient::TestAlert(const std::string& severity, const std::string& service) {
  json body = {{"severity", severity}};
  if (!service.empty()) body["service"] = service;
  return Call("POST", "/api/v1/alerts/test", {}, &body);
}

absl::StatusOr<json> ApiClient::Trace(const std::string& trace_id) {
  return Call("GET", absl::StrCat("/api/v1/traces/", Encode(trace_id)), {}, nullptr);
}

absl::StatusOr<json> ApiClient::Deploy(const std::string& service, const DeployRequest& request) {
  json body = {{"version", request.version}, {"env", request.env}};
  if (!request.strategy.empty()) body["strategy"] = request.strategy;
  return Call("POST", absl::StrCat("/api/v1/services/", Encode(service), "/deploy"), {}, &body);
}

absl::StatusOr<json> ApiClient::Undo(const std::string& service, std::optional<int> to_revision) {
  json body = json::object();
  if (to_revision) body["to_revision"] = *to_revision;
  return Call("POST", absl::StrCat("/api/v1/services/", Encode(service), "/undo"), {}, &body);
}

absl::StatusOr<json> ApiClient::Rollouts(const std::string& service, int limit) {
  std::map<std::string, std::string> query = {{"limit", std::to_string(limit)}};
  if (!service.empty()) query["service"] = service;
  return Call("GET", "/api/v1/rollouts", std::move(query), nullptr);
}

absl::StatusOr<json> ApiClient::Restart(const std::string& service) {
  json body = json::object();
  return Call("POST", absl::StrCat("/api/v1/services/", Encode(service), "/rollout/restart"), {},
              &body);
}

absl::StatusOr<json> ApiClient::Command(const std::string& service, const std::string& command,
                                        bool full) {
  json body = json::object();
  if (full) body["full"] = true;
  return Call("POST", absl::StrCat("/api/v1/services/", Encode(service), "/rollout/", command), {},
              &body);
}

absl::StatusOr<json> ApiClient::Analysis(const std::string& service, int revision, int attempt,
                                         const std::string& kind) {
  std::map<std::string, std::string> query = {{"kind", kind}};
  if (attempt > 0) query["attempt"] = std::to_string(attempt);
  return Call("GET",
              absl::StrCat("/api/v1/services/", Encode(service), "/revisions/", revision,
                           "/analysis"),
              std::move(query), nullptr);
}

absl::StatusOr<json> ApiClient::Events(int64_t after, const std::string& service, int limit) {
  std::map<std::string, std::string> query = {{"after", std::to_string(after)},
                                              {"limit", std::to_string(limit)}};
  if (!service.empty()) query["service"] = service;
  return Call("GET", "/api/v1/events", std::move(query), nullptr);
}

absl::StatusOr<int64_t> ApiClient::LastEventId(const std::string& service) {
  HUT_ASSIGN_OR_RETURN(json page, Events(std::numeric_limits<int64_t>::max(), service, 1));
  if (!page.contains("last_id") || !page["last_id"].is_number_integer()) {
    return absl::DataLossError("the server's event list has no last_id");
  }
  return page["last_id"].get<int64_t>();
}

}  // namespace hut::cli
