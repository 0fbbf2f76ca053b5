#include "src/cli/rollout.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/units.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "src/cli/output.h"

namespace hut::cli {
namespace {

using nlohmann::json;

// Events asked for per request when a follower catches up without the stream.
constexpr int kEventPage = 500;
// Batches of events read at most after the end (a canary in its rollback
// window goes on recording events).
constexpr int kEndBatches = 5;

// VAR=VALUE pairs separated by spaces; a value that is empty or holds
// anything but plain characters is double-quoted.
std::string EnvText(const json& env) {
  if (!env.is_object() || env.empty()) return "-";
  std::string out;
  for (const auto& [name, value] : env.items()) {
    std::string v = value.is_string() ? value.get<std::string>() : value.dump();
    const bool plain = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) ||
             std::string_view("_./:@%+,=-").find(c) != std::string_view::npos;
    });
    if (!plain) {
      std::string quoted = "\"";
      for (char c : v) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
      }
      v = quoted + "\"";
    }
    absl::StrAppend(&out, out.empty() ? "" : " ", name, "=", v);
  }
  return out;
}

double Num(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}

std::string Percent(double fraction) {
  return absl::StrFormat("%.1f %%", 100 * fraction);
}

// "3m12s" from now until an API timestamp; "" when unreadable or past.
std::string TimeLeft(const std::string& rfc3339) {
  absl::Time t;
  std::string error;
  if (rfc3339.empty() || !absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) return "";
  const int64_t seconds = absl::ToInt64Seconds(absl::Ceil(t - absl::Now(), absl::Seconds(1)));
  if (seconds <= 0) return "0s";
  return seconds >= 60 ? absl::StrCat(seconds / 60, "m", seconds % 60, "s")
                       : absl::StrCat(seconds, "s");
}

// Where a canary is: "step 1/1 (10 %), canary takes 10.0 % of traffic, hold ends in 3m12s".
std::string CanaryProgressText(const json& rollout) {
  const json progress = Field(Field(rollout, "canary"), "progress");
  if (!progress.is_object() || progress.empty()) return "";
  std::string text =
      absl::StrCat("step ", Int(progress, "step"), "/", Int(progress, "steps"), " (",
                   absl::StrFormat("%g %%", 100 * Num(progress, "step_weight")),
                   "), canary takes ", Percent(Num(progress, "canary_share")), " of traffic");
  if (std::string left = TimeLeft(Str(progress, "hold_ends_at")); !left.empty()) {
    absl::StrAppend(&text, ", hold ends in ", left);
  }
  if (std::string left = TimeLeft(Str(progress, "window_ends_at")); !left.empty()) {
    absl::StrAppend(&text, ", rollback window ends in ", left);
  }
  if (Int(progress, "attempt") > 1) absl::StrAppend(&text, ", attempt ", Int(progress, "attempt"));
  return text;
}

// One group's numbers: "0.4 % errors (5 of 1,204), P99 0.210 s".
std::string GroupText(const json& group, bool with_p99) {
  std::string text = absl::StrCat(Percent(Num(group, "error_rate")), " errors (",
                                  Int(group, "failed"), " of ", Int(group, "requests"), ")");
  if (with_p99 && Field(group, "window_p99_seconds").is_number()) {
    absl::StrAppend(&text, absl::StrFormat(", P99 %.3f s", Num(group, "window_p99_seconds")));
  }
  return text;
}

// The analysis numbers: "canary 0.4 % errors (5 of 1,204), P99 0.210 s; baseline ...".
std::string CanaryNumbersText(const json& rollout) {
  const json analysis = Field(Field(rollout, "canary"), "analysis");
  if (!analysis.is_object()) return "";
  std::string text = absl::StrCat(Str(analysis, "kind") == "window" ? "new revision " : "canary ",
                                  GroupText(Field(analysis, "canary"), true));
  if (Str(analysis, "kind") != "window") {
    absl::StrAppend(&text, "; baseline ", GroupText(Field(analysis, "baseline"), false));
  }
  return text;
}

// "revision 2 10%, revision 1 90%": each revision's share of traffic now.
std::string TrafficText(const json& state) {
  const json traffic = Field(state, "traffic");
  if (!traffic.is_object()) return "";
  std::map<int, double, std::greater<>> by_revision;
  for (const auto& [revision, share] : traffic.items()) {
    int number = 0;
    if (share.is_number() && absl::SimpleAtoi(revision, &number)) {
      by_revision[number] = share.get<double>();
    }
  }
  std::string text;
  for (const auto& [revision, share] : by_revision) {
    absl::StrAppend(&text, text.empty() ? "" : ", ", "revision ", revision, " ",
                    FormatPercent(share));
  }
  return text;
}

// "12.3/s, 0.41 % errors, P99 4.9 ms (last minute, Prometheus)", or why not.
std::string RequestsText(const json& state) {
  if (const json r = Field(state, "requests"); r.is_object()) {
    const json p99 = Field(r, "p99_seconds");
    return absl::StrFormat("%.1f/s, %.2f %% errors, P99 %s (last minute, Prometheus)",
                           r.value("per_second", 0.0), 100 * r.value("error_ratio", 0.0),
                           p99.is_number() ? absl::StrFormat("%.1f ms", 1000 * p99.get<double>())
                                           : std::string("-"));
  }
  if (std::string error = Str(state, "requests_error"); !error.empty()) {
    return "unknown: " + error;
  }
  return "";
}

// `hut rollout status` in text: the rollout, then the replicas.
void PrintStatus(const std::string& service, const json& state, const Io& io) {
  const json rollout = Field(state, "rollout");
  if (!rollout.is_object()) {
    io.out << service << ": no rollout yet\n";
  } else {
    std::vector<std::vector<std::string>> rows = {
        {"Service:", absl::StrCat(service, " in ", Str(rollout, "environment"))},
        {"Rollout:", absl::StrCat(Int(rollout, "id"), " (", Str(rollout, "strategy"), "), ",
                                  Revisions(rollout))},
        {"Phase:", Str(rollout, "phase")},
    };
    if (!Str(rollout, "reason").empty()) rows.push_back({"Reason:", Str(rollout, "reason")});
    if (!Str(state, "waiting").empty()) rows.push_back({"Waiting:", Str(state, "waiting")});
    if (std::string canary = CanaryProgressText(rollout); !canary.empty()) {
      rows.push_back({"Canary:", canary});
    }
    if (const json analysis = Field(Field(rollout, "canary"), "analysis"); analysis.is_object()) {
      rows.push_back({"Analysis:", Str(analysis, "message")});
      rows.push_back({"Numbers:", CanaryNumbersText(rollout)});
    }
    if (std::string traffic = TrafficText(state); !traffic.empty()) {
      rows.push_back({"Traffic:", traffic});
    }
    if (std::string requests = RequestsText(state); !requests.empty()) {
      rows.push_back({"Requests:", requests});
    }
    rows.push_back({"Started:", DateTime(Str(rollout, "created_at"))});
    rows.push_back({"Finished:", DateTime(Str(rollout, "finished_at"))});
    if (std::string trace = Str(rollout, "trace_id"); !trace.empty()) {
      rows.push_back({"Trace:", absl::StrCat(trace, "  (hut trace ", trace, ")")});
    }
    PrintTable(io.out, rows);
  }
  const json replicas = Field(state, "replicas");
  io.out << "\n";
  if (!replicas.is_array() || replicas.empty()) {
    io.out << "No replicas.\n";
    return;
  }
  // The runtime's own view of a replica (local: weight, address, pid) is in -o json.
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "REVISION", "VERSION", "STATE", "SERVING", "RESTARTS", "REASON"}};
  for (const json& r : replicas) {
    std::string reason = Str(r, "reason");
    rows.push_back({Str(r, "name"), std::to_string(Int(r, "revision")), Str(r, "version"),
                    Str(r, "state"), Bool(r, "serving") ? "yes" : "no",
                    std::to_string(Int(r, "restarts")), reason.empty() ? "-" : reason});
  }
  PrintTable(io.out, rows);
}

// "rollout 7 progressing: revision 3 1/2 serving, revision 2 2/2 serving, 1 draining"
std::string StatusLine(const json& state) {
  const json rollout = Field(state, "rollout");
  std::string line = absl::StrCat("rollout ", Int(rollout, "id"), " ", Str(rollout, "phase"), ":");
  std::map<int64_t, std::pair<int, int>, std::greater<>> by_revision;  // serving, total
  int draining = 0;
  const json replicas = Field(state, "replicas");
  if (replicas.is_array()) {
    for (const json& r : replicas) {
      if (Bool(r, "draining")) {
        ++draining;
        continue;
      }
      auto& [serving, total] = by_revision[Int(r, "revision")];
      ++total;
      if (Bool(r, "ready") && Bool(r, "in_load_balancer")) ++serving;
    }
  }
  const char* separator = " ";
  for (const auto& [revision, counts] : by_revision) {
    absl::StrAppend(&line, separator, "revision ", revision, " ", counts.first, "/", counts.second,
                    " serving");
    separator = ", ";
  }
  if (draining > 0) absl::StrAppend(&line, separator, draining, " draining");
  if (by_revision.empty() && draining == 0) absl::StrAppend(&line, " no replicas");
  if (std::string canary = CanaryProgressText(rollout); !canary.empty()) {
    absl::StrAppend(&line, "; ", canary);
  }
  if (std::string numbers = CanaryNumbersText(rollout); !numbers.empty()) {
    absl::StrAppend(&line, "; ", numbers);
  }
  return line;
}

// The end of a rollout: a summary line and the exit code of its phase.
int Finish(const std::string& command, const std::string& service, const json& state, bool json_out,
           bool rollback_expected, const Io& io) {
  const json rollout = Field(state, "rollout");
  const std::string phase = Str(rollout, "phase");
  const std::string reason = Str(rollout, "reason");
  const std::string because = reason.empty() ? "" : absl::StrCat(": ", reason);
  if (json_out) io.out << state.dump(2) << "\n";
  if (phase == "succeeded") {
    if (!json_out) {
      io.out << service << ": rollout " << Int(rollout, "id") << " succeeded: revision "
             << Int(rollout, "to_revision") << " is serving";
      const std::string window = Str(Field(Field(rollout, "canary"), "progress"), "window_ends_at");
      if (Field(rollout, "finished_at").is_null() && !window.empty()) {
        io.out << "; revision " << Int(rollout, "from_revision")
               << " is kept warm for `hut rollout undo` until " << ClockTime(window);
      }
      io.out << "\n";
    }
    return kExitOk;
  }
  if (phase == "rolled-back" && rollback_expected) {
    if (!json_out) {
      io.out << service << ": rollout " << Int(rollout, "id") << " undone: revision "
             << Int(rollout, "from_revision") << " is serving again\n";
    }
    return kExitOk;
  }
  if (phase == "rolled-back") {
    io.err << command << ": rollout " << Int(rollout, "id") << " of " << service
           << " was rolled back to revision " << Int(rollout, "from_revision") << because << "\n";
    return kExitRolledBack;
  }
  io.err << command << ": rollout " << Int(rollout, "id") << " of " << service << " ended " << phase
         << because << "\n";
  return kExitFailure;
}

std::string WatchHint(const ApiClient& client, const std::string& service) {
  return absl::StrCat("`hut rollout status ", service,
                      client.environment().empty() ? "" : " --env " + client.environment(),
                      " --watch`");
}

}  // namespace

int PrintError(const std::string& command, const absl::Status& status, const Io& io) {
  io.err << command << ": " << status.message() << "\n";
  return kExitFailure;
}

namespace {

// Follows one rollout (FollowRollout); one use.
class Follower {
 public:
  Follower(ApiClient& client, const std::string& command, const std::string& service,
           int64_t rollout_id, int64_t after, bool json_out, bool rollback_expected,
           const Io& io, const FollowOptions& options)
      : client_(client),
        command_(command),
        service_(service),
        rollout_id_(rollout_id),
        after_(after),
        json_out_(json_out),
        rollback_expected_(rollback_expected),
        redraw_(io.interactive && !json_out),
        io_(io),
        options_(options) {}

  int Run() {
    // A check (GET of the rollout) at the start and after a silent stream;
    // otherwise the stream's events say when to check.
    bool check = true;
    bool catch_up = false;   // GET the events too: the stream may have missed them
    bool give_up = false;    // the final event did not come within end_grace
    while (true) {
      if (check) {
        if (catch_up) {
          if (absl::Status s = CatchUp(); !s.ok()) {
            if (std::optional<int> code = Failed(s)) return *code;
            continue;
          }
        }
        absl::StatusOr<bool> over = Check(give_up);
        if (!over.ok()) {
          if (std::optional<int> code = Failed(over.status())) return *code;
          continue;
        }
        if (*over) return Over();
        failures_ = 0;
        check = catch_up = give_up = false;
      }
      const bool waiting_for_end = unannounced_;
      bool over = false;
      absl::Status check_error;
      absl::Status s = client_.StreamEvents(
          after_, service_, waiting_for_end ? options_.end_grace : options_.safety_net,
          [&](const std::vector<json>& events) {
            failures_ = 0;
            bool rollout_event = false;
            for (const json& e : events) rollout_event |= Print(e);
            io_.out.flush();
            if (!rollout_event && !redraw_) return true;
            absl::StatusOr<bool> checked = Check(/*give_up_waiting=*/false);
            if (!checked.ok()) {
              check_error = checked.status();
              return false;
            }
            over = *checked;
            return !over;
          });
      if (over) return Over();
      if (!check_error.ok()) {
        s = check_error;
        check = true;  // the event that asked for it has been seen: check again first
      } else if (absl::IsDeadlineExceeded(s)) {
        // Silent: the safety net, then the stream again from the last event.
        check = catch_up = true;
        give_up = waiting_for_end;
        continue;
      }
      if (s.ok()) s = absl::UnavailableError("the server closed the event stream");
      if (std::optional<int> code = Failed(s)) return *code;
    }
  }

 private:
  // Prints `event` unless it was seen already (ids only grow); true for an
  // event of this rollout whose type starts with "rollout.".
  bool Print(const json& event) {
    const int64_t id = Int(event, "id");
    if (id <= after_) return false;
    after_ = id;
    if (Int(event, "rollout_id") != rollout_id_) return false;
    const std::string type = Str(event, "type");
    seen_types_.insert(type);
    if (!json_out_) {
      ClearLine();
      io_.out << ClockTime(Str(event, "at")) << "  " << Str(event, "message") << "\n";
    }
    return type.rfind("rollout.", 0) == 0;
  }

  // The events after the last one seen, by GET.
  absl::Status CatchUp() {
    while (true) {
      absl::StatusOr<json> page = client_.Events(after_, service_, kEventPage);
      if (!page.ok()) return page.status();
      const json events = Field(*page, "events");
      if (!events.is_array()) return absl::OkStatus();
      for (const json& e : events) Print(e);
      io_.out.flush();
      if (events.size() < static_cast<size_t>(kEventPage)) return absl::OkStatus();
    }
  }

  // GETs the rollout. True when the follow is over: the rollout has ended
  // and the event of its final phase has been seen (or `give_up_waiting`
  // for it), with ended_ set; or hut cannot follow it any more (gone_).
  absl::StatusOr<bool> Check(bool give_up_waiting) {
    absl::StatusOr<json> state = client_.Rollout(service_);
    if (!state.ok()) return state.status();
    const json rollout = Field(*state, "rollout");
    const int64_t latest = Int(rollout, "id");
    if (latest != rollout_id_) {
      ClearLine();
      io_.err << command_ << ": "
              << (latest > rollout_id_
                      ? absl::StrCat("rollout ", rollout_id_, " of ", service_,
                                     " ended and rollout ", latest, " started before hut saw ",
                                     "the end; see `hut rollout history ", service_, "`")
                      : absl::StrCat("the server has no rollout ", rollout_id_, " of ", service_))
              << "\n";
      gone_ = true;
      return true;
    }
    // A promoted canary has succeeded, though it keeps the previous revision
    // warm (unfinished) for its rollback window.
    const std::string phase = Str(rollout, "phase");
    const bool finished = !Field(rollout, "finished_at").is_null() ||
                          (phase == "succeeded" && !rollback_expected_);
    if (finished && (seen_types_.count("rollout." + phase) > 0 || give_up_waiting)) {
      ended_ = *std::move(state);
      return true;
    }
    // The event of a phase is saved with the phase, so it is on its way.
    unannounced_ = finished;
    if (redraw_) {
      ClearLine();
      io_.out << StatusLine(*state);
      line_shown_ = true;
    }
    io_.out.flush();
    return false;
  }

  // The exit code once Check said the follow is over.
  int Over() {
    if (gone_) return kExitFailure;
    // The controller carries out its last decision after saving the final
    // phase: its events (replicas serving, draining) follow that of the
    // phase. They are read until the stream goes quiet, and the rollout then
    // shows the replicas as those actions left them.
    int batches = 0;
    const absl::Status drained = client_.StreamEvents(
        after_, service_, options_.end_quiet, [&](const std::vector<json>& events) {
          bool later = false;  // a later rollout has started: ours is over
          for (const json& e : events) {
            later |= Int(e, "rollout_id") > rollout_id_;
            Print(e);
          }
          io_.out.flush();
          return !later && ++batches < kEndBatches;
        });
    (void)drained;  // the end is known; what is missing here is only detail
    absl::StatusOr<json> end = client_.Rollout(service_);
    const bool same = end.ok() && Int(Field(*end, "rollout"), "id") == rollout_id_;
    ClearLine();
    io_.out.flush();
    return Finish(command_, service_, same ? *end : ended_, json_out_, rollback_expected_, io_);
  }

  // Counts a failed attempt and waits before the next; the exit code when
  // hut gives up.
  std::optional<int> Failed(const absl::Status& status) {
    const bool transient = absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
                           absl::IsDataLoss(status);
    if (!transient || ++failures_ >= options_.max_failures) return Lost(status);
    std::chrono::milliseconds wait{0};
    if (failures_ > 1) {
      wait = options_.reconnect_min;
      for (int i = 2; i < failures_ && wait < options_.reconnect_max; ++i) wait *= 2;
      wait = std::min(wait, options_.reconnect_max);
    }
    if (wait.count() > 0) {
      if (options_.sleep) {
        options_.sleep(wait);
      } else {
        std::this_thread::sleep_for(wait);
      }
    }
    return std::nullopt;
  }

  int Lost(const absl::Status& status) {
    ClearLine();
    io_.err << command_ << ": lost the server while following rollout " << rollout_id_ << " of "
            << service_ << ": " << status.message() << " (the rollout goes on; "
            << WatchHint(client_, service_) << " follows it again)\n";
    return kExitFailure;
  }

  void ClearLine() {
    if (line_shown_) io_.out << "\r\033[K";
    line_shown_ = false;
  }

  ApiClient& client_;
  const std::string& command_;
  const std::string& service_;
  const int64_t rollout_id_;
  int64_t after_;  // the id of the newest event seen, of any rollout
  const bool json_out_;
  const bool rollback_expected_;
  const bool redraw_;
  const Io& io_;
  const FollowOptions& options_;
  std::set<std::string> seen_types_;  // of this rollout's events
  bool unannounced_ = false;          // finished, but its final event not seen yet
  json ended_;                        // the state that showed the end
  bool gone_ = false;                 // another rollout, or none: reported, exit 1
  bool line_shown_ = false;           // a status line is on the screen
  int failures_ = 0;                  // failed attempts in a row
};

}  // namespace

int FollowRollout(ApiClient& client, const std::string& command, const std::string& service,
                  int64_t rollout_id, int64_t after, bool json_out, const Io& io,
                  bool rollback_expected, const FollowOptions& options) {
  return Follower(client, command, service, rollout_id, after, json_out, rollback_expected, io,
                  options)
      .Run();
}

int ReportStarted(ApiClient& client, const std::string& command, const json& answer,
                  const std::string& version, int64_t after, bool wait, bool json_out,
                  const Io& io) {
  const json rollout = Field(answer, "rollout");
  const std::string service = Str(rollout, "service");
  const int64_t id = Int(rollout, "id");
  if (json_out && !wait) {
    io.out << answer.dump(2) << "\n";
    return kExitOk;
  }
  if (!json_out) {
    io.out << service << ": rollout " << id << " started: " << Revisions(rollout)
           << (version.empty() ? "" : absl::StrCat(" (", version, ")")) << ", "
           << Str(rollout, "strategy") << " strategy";
    if (!wait) io.out << "; follow it with " << WatchHint(client, service);
    io.out << "\n";
    io.out.flush();
  }
  if (!wait) return kExitOk;
  return FollowRollout(client, command, service, id, after, json_out, io);
}

int RunRolloutStatus(const RolloutStatusOptions& options, const Io& io) {
  const std::string command = "hut rollout status";
  absl::StatusOr<ApiClient> client = Connect(options.environment, io);
  if (!client.ok()) return PrintError(command, client.status(), io);
  // The end of the log before the state, so that nothing after the state is missed.
  absl::StatusOr<int64_t> after = client->FollowFrom(options.service, options.watch);
  if (!after.ok()) return PrintError(command, after.status(), io);
  absl::StatusOr<json> state = client->Rollout(options.service);
  if (!state.ok()) return PrintError(command, state.status(), io);
  const json rollout = Field(*state, "rollout");
  if (!options.watch || !rollout.is_object()) {
    if (options.json) {
      io.out << state->dump(2) << "\n";
    } else {
      PrintStatus(options.service, *state, io);
    }
    if (options.watch) {
      io.err << command << ": " << options.service << " has no rollout to watch\n";
      return kExitFailure;
    }
    return kExitOk;
  }
  if (!options.json) {
    PrintStatus(options.service, *state, io);
    io.out << "\n";
  }
  if (!Field(rollout, "finished_at").is_null() || Str(rollout, "phase") == "succeeded") {
    return Finish(command, options.service, *state, options.json, false, io);
  }
  return FollowRollout(*client, command, options.service, Int(rollout, "id"), *after, options.json,
                       io);
}

int RunRolloutHistory(const RolloutHistoryOptions& options, const Io& io) {
  const std::string command = "hut rollout history";
  absl::StatusOr<ApiClient> client = Connect(options.environment, io);
  if (!client.ok()) return PrintError(command, client.status(), io);
  absl::StatusOr<json> history = client->History(options.service);
  if (!history.ok()) return PrintError(command, history.status(), io);
  if (options.json) {
    io.out << history->dump(2) << "\n";
    return kExitOk;
  }
  absl::StatusOr<json> services = client->Services();
  if (!services.ok()) return PrintError(command, services.status(), io);
  int64_t current = 0;
  const json list = Field(*services, "services");
  if (list.is_array()) {
    for (const json& s : list) {
      if (Str(s, "name") == options.service) current = Int(s, "current_revision");
    }
  }
  const json revisions = Field(*history, "revisions");
  if (!revisions.is_array() || revisions.empty()) {
    io.out << options.service << ": no revisions yet\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"", "REVISION", "VERSION", "CAUSE", "CREATED", "ENV"}};
  for (const json& r : revisions) {  // newest first, as the API gives them
    const int64_t number = Int(r, "number");
    rows.push_back({number == current ? "*" : "", std::to_string(number), Str(r, "version"),
                    Str(r, "cause"), DateTime(Str(r, "created_at")), EnvText(Field(r, "env"))});
  }
  PrintTable(io.out, rows);
  io.out << (current == 0 ? "(no revision is serving yet)\n" : "(* serving now)\n");
  return kExitOk;
}

int RunRolloutUndo(const RolloutUndoOptions& options, const Io& io) {
  const std::string command = "hut rollout undo";
  absl::StatusOr<ApiClient> client = Connect(options.environment, io);
  if (!client.ok()) return PrintError(command, client.status(), io);
  absl::StatusOr<int64_t> after = client->FollowFrom(options.service, options.wait);
  if (!after.ok()) return PrintError(command, after.status(), io);
  absl::StatusOr<json> answer = client->Undo(
      options.service,
      options.to_revision > 0 ? std::optional<int>(options.to_revision) : std::nullopt);
  if (!answer.ok()) return PrintError(command, answer.status(), io);
  if (Bool(*answer, "flip")) {  // inside a canary's rollback window
    const json rollout = Field(*answer, "rollout");
    if (options.json && !options.wait) {
      io.out << answer->dump(2) << "\n";
      return kExitOk;
    }
    if (!options.json) {
      io.out << options.service << ": rollout " << Int(rollout, "id")
             << " is inside its rollback window: traffic flips back to revision "
             << Int(rollout, "from_revision") << ", still running\n";
    }
    if (!options.wait) return kExitOk;
    return FollowRollout(*client, command, options.service, Int(rollout, "id"), *after,
                         options.json, io, /*rollback_expected=*/true);
  }
  // The version the undo goes back to, for the first line; only shown when known.
  std::string version;
  if (!options.json) {
    const int64_t to = Int(Field(*answer, "rollout"), "to_revision");
    if (absl::StatusOr<json> history = client->History(options.service); history.ok()) {
      const json revisions = Field(*history, "revisions");
      if (revisions.is_array()) {
        for (const json& r : revisions) {
          if (Int(r, "number") == to) version = Str(r, "version");
        }
      }
    }
  }
  return ReportStarted(*client, command, *answer, version, *after, options.wait, options.json, io);
}

int RunRolloutRestart(const RolloutRestartOptions& options, const Io& io) {
  const std::string command = "hut rollout restart";
  absl::StatusOr<ApiClient> client = Connect(options.environment, io);
  if (!client.ok()) return PrintError(command, client.status(), io);
  absl::StatusOr<int64_t> after = client->FollowFrom(options.service, options.wait);
  if (!after.ok()) return PrintError(command, after.status(), io);
  absl::StatusOr<json> answer = client->Restart(options.service);
  if (!answer.ok()) return PrintError(command, answer.status(), io);
  return ReportStarted(*client, command, *answer, "", *after, options.wait, options.json, io);
}

int RunRolloutCommand(const RolloutCommandOptions& options, const Io& io) {
  const std::string command = absl::StrCat("hut rollout ", options.command);
  absl::StatusOr<ApiClient> client = Connect(options.environment, io);
  if (!client.ok()) return PrintError(command, client.status(), io);
  absl::StatusOr<int64_t> after = client->FollowFrom(options.service, options.wait);
  if (!after.ok()) return PrintError(command, after.status(), io);
  absl::StatusOr<json> answer = client->Command(options.service, options.command, options.full);
  if (!answer.ok()) return PrintError(command, answer.status(), io);
  const json rollout = Field(*answer, "rollout");
  if (options.json && !options.wait) {
    io.out << answer->dump(2) << "\n";
    return kExitOk;
  }
  if (!options.json) {
    io.out << options.service << ": rollout " << Int(rollout, "id") << " (" << Revisions(rollout)
           << "): " << Str(*answer, "command") << " accepted";
    if (!options.wait) io.out << "; follow it with " << WatchHint(*client, options.service);
    io.out << "\n";
    io.out.flush();
  }
  if (!options.wait) return kExitOk;
  return FollowRollout(*client, command, options.service, Int(rollout, "id"), *after, options.json,
                       io, /*rollback_expected=*/options.command == "abort");
}

int RunRolloutExport(const RolloutExportOptions& options, const Io& io) {
  const std::string command = "hut rollout export";
  absl::StatusOr<ApiClient> client = Connect(options.environment, io);
  if (!client.ok()) return PrintError(command, client.status(), io);
  absl::StatusOr<json> run = client->Analysis(options.service, options.revision, options.attempt,
                                              options.window ? "window" : "canary");
  if (!run.ok()) return PrintError(command, run.status(), io);
  io.out << run->dump(2) << "\n";
  return kExitOk;
}

}  // namespace hut::cli
