// `hut deploy` and `hut rollout …` run in-process against a real control API:
// http::Server on loopback serving server::ControlApi, backed by SQLite in a
// temporary folder and ServiceWorkers over a FakeRuntime that a background
// thread moves on (one fake second of the controllers' clock per 20 ms step,
// so the 30 s progress deadline passes in 0.6 s).

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/alerting/router.h"
#include "src/cli/api_client.h"
#include "src/cli/cli.h"
#include "src/cli/rollout.h"
#include "src/controller/service_controller.h"
#include "src/controller/service_worker.h"
#include "src/http/server.h"
#include "src/secrets/local_backend.h"
#include "src/server/control_api.h"
#include "src/server/discovery.h"
#include "src/spec/load.h"
#include "src/store/sqlite_store.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"
#include "testing/fake_runtime.h"
#include "testing/test_env.h"

namespace hut::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::ContainsRegex;
using ::testing::EndsWith;
using testing::FakeRuntime;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kToken[] = "0123456789abcdef-test-token";

constexpr char kSpec[] = R"(
services:
  backend:
    release: {command: [foohut-api, serve]}
    # A replica that never gets ready is caught by the progress deadline.
    health: {start_period: 10m}
  frontend:
    release: {command: [foohut-api, serve]}
policies:
  rolling: {progress_deadline: 30s}
  autoscaling: {enabled: false}
environments:
  staging:
    runtime: local
    strategy: rolling
    services: {backend: {replicas: 2}, frontend: {replicas: 1}}
)";

struct Result {
  int code;
  std::string out;
  std::string err;
};

// Sets the current folder for the life of the object (the CLI looks for
// .hut/admin-token there).
class ScopedChdir {
 public:
  explicit ScopedChdir(const std::string& dir) : old_(fs::current_path()) { fs::current_path(dir); }
  ~ScopedChdir() { fs::current_path(old_); }

 private:
  fs::path old_;
};

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

class CliRemoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec::LoadResult loaded = spec::ParseSpec(kSpec, "test.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.problems[0].ToString();
    spec_ = *loaded.spec;
    auto store = store::SqliteStore::Open(dir_.path() + "/state.db", clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    const spec::Environment& env = *spec_.FindEnvironment("staging");
    std::map<std::string, controller::ServiceWorker*> workers;
    for (const char* name : {"backend", "frontend"}) {
      workers_.push_back(std::make_unique<controller::ServiceWorker>(
          std::make_unique<controller::ServiceController>(spec_, env, *spec_.FindService(name),
                                                          runtime_, *store_, clock_, log_),
          clock_, milliseconds(10), log_));
      workers[name] = workers_.back().get();
    }
    api_ =
        std::make_unique<server::ControlApi>(env, workers, runtime_, *store_, Secret(kToken), log_);
    ASSERT_NO_FATAL_FAILURE(StartServer(0));
    address_ = "127.0.0.1:" + std::to_string(server_->port());
    stepper_ = std::thread([this] {
      while (!stop_) {
        if (!paused_) {
          runtime_.Step();
          clock_.Advance(std::chrono::seconds(1));
        }
        std::this_thread::sleep_for(milliseconds(20));
      }
    });
    home_ = dir_.path() + "/home";
    fs::create_directories(home_);
  }

  void TearDown() override {
    stop_ = true;
    if (stepper_.joinable()) stepper_.join();
    if (server_) server_->Shutdown(milliseconds(1000));
    server_.reset();
    workers_.clear();
  }

  // Serves the API on `port` (0: any), counting the requests by method and path.
  void StartServer(uint16_t port) {
    http::ServerOptions options;
    options.logger = log_;
    options.port = port;
    auto started = http::Server::Start(options, [this](const http::Request& r) {
      {
        std::lock_guard<std::mutex> lock(requests_mu_);
        ++requests_[r.method + " " + r.path];
      }
      return api_->Handle(r);
    });
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = std::move(*started);
  }

  // Requests served so far to "METHOD /path".
  int Requests(const std::string& method_path) {
    std::lock_guard<std::mutex> lock(requests_mu_);
    auto it = requests_.find(method_path);
    return it == requests_.end() ? 0 : it->second;
  }

  // Waits (bounded) until the server has `n` event streams open: the hut
  // process connecting, real time.
  bool WaitForStreams(int n) {
    for (int i = 0; i < 500 && server_->open_streams() != n; ++i) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    return server_->open_streams() == n;
  }

  // A client of this server, for calling FollowRollout directly.
  ApiClient Client() {
    ServerTarget target;
    auto hp = server::ParseHostPort(address_);
    EXPECT_TRUE(hp.ok()) << hp.status();
    if (hp.ok()) target.address = *hp;
    target.token = Secret(kToken);
    target.token_source = "test";
    return ApiClient(target, "staging");
  }

  // The messages of rollout `id`'s events, oldest first, from the store.
  std::vector<std::string> StoredMessages(int64_t id) {
    std::vector<std::string> out;
    auto events = store_->EventsAfter(0, 1000, "staging", "backend");
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) return out;
    for (const store::Event& e : *events) {
      if (e.rollout_id == id) out.push_back(e.message);
    }
    return out;
  }

  // The event lines ("HH:MM:SS  message") of hut's output, their messages.
  static std::vector<std::string> PrintedMessages(const std::string& out) {
    static const std::regex kLine("^(\r\033\\[K)?[0-9]{2}:[0-9]{2}:[0-9]{2}  (.*)$");
    std::vector<std::string> messages;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_match(line, m, kLine)) messages.push_back(m[2]);
    }
    return messages;
  }

  // hut printed the events of rollout `id` each once, in the order they were
  // recorded, from its first event through the one of its final phase.
  void ExpectEachEventOnceInOrder(const std::string& out, int64_t id) {
    const std::vector<std::string> printed = PrintedMessages(out);
    const std::vector<std::string> stored = StoredMessages(id);
    std::optional<store::Rollout> rollout = Latest();
    ASSERT_TRUE(rollout && rollout->id == id);
    size_t final_index = stored.size();
    auto events = store_->EventsAfter(0, 1000, "staging", "backend");
    ASSERT_TRUE(events.ok());
    size_t index = 0;
    for (const store::Event& e : *events) {
      if (e.rollout_id != id) continue;
      if (e.type == "rollout." + std::string(store::PhaseName(rollout->phase)) && final_index == stored.size()) {
        final_index = index;
      }
      ++index;
    }
    ASSERT_LT(final_index, stored.size()) << "no event of the final phase " << rollout->phase;
    ASSERT_GT(printed.size(), final_index) << out;
    ASSERT_LE(printed.size(), stored.size()) << out;
    EXPECT_EQ(printed, std::vector<std::string>(stored.begin(), stored.begin() + printed.size()))
        << out;
  }

  // Runs hut with HUT_ADDR, HUT_TOKEN and HOME set for this server; `env`
  // adds to or replaces them (an empty value unsets).
  Result Hut(std::vector<std::string> args, std::map<std::string, std::string> env = {},
             bool interactive = false, std::istream* in = nullptr) {
    std::map<std::string, std::string> vars = {
        {"HUT_ADDR", address_}, {"HUT_TOKEN", kToken}, {"HOME", home_}};
    for (const auto& [k, v] : env) vars[k] = v;
    std::ostringstream out, err;
    Io io{out, err,
          [&vars](const std::string& name) -> std::optional<std::string> {
            auto it = vars.find(name);
            if (it == vars.end() || it->second.empty()) return std::nullopt;
            return it->second;
          },
          interactive, in};
    args.insert(args.begin(), "hut");
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    const int code = cli::Run(static_cast<int>(argv.size()), argv.data(), io);
    return Result{code, out.str(), err.str()};
  }

  std::optional<store::Rollout> Latest(const std::string& service = "backend") {
    auto latest = store_->LatestRollout("staging", service);
    EXPECT_TRUE(latest.ok()) << latest.status();
    return latest.ok() ? *latest : std::nullopt;
  }

  // Waits (bounded) until the latest rollout of backend has finished and the
  // controller has carried out the last decision (the phase is announced after).
  void WaitFinished() {
    for (int i = 0; i < 500; ++i) {
      std::optional<store::Rollout> r = Latest();
      if (r && r->finished_at) {
        auto events = store_->EventsAfter(0, 1000, "staging", "backend");
        for (const store::Event& e : *events) {
          if (e.rollout_id == r->id && e.type == "rollout." + std::string(store::PhaseName(r->phase))) return;
        }
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    FAIL() << "rollout did not finish";
  }

  // Lets the fake world move again after `delay`; join the thread.
  std::thread ResumeAfter(milliseconds delay) {
    return std::thread([this, delay] {
      std::this_thread::sleep_for(delay);
      paused_ = false;
    });
  }

  // Versions of replicas in the API's JSON that serve (ready, in the load
  // balancer, not draining).
  static std::map<std::string, int> ServingVersions(const json& replicas) {
    std::map<std::string, int> out;
    for (const json& r : replicas) {
      if (r["ready"] && r["in_load_balancer"] && !r["draining"]) ++out[r["version"]];
    }
    return out;
  }

  // Versions of the replicas of backend that serve (ready, in the load balancer).
  std::map<std::string, int> Serving() {
    std::map<std::string, int> out;
    for (const auto& r : runtime_.Replicas("backend")) {
      if (r.serving && r.state == runtime::ReplicaState::kReady) ++out[r.version];
    }
    return out;
  }

  hut::testing::TempDir dir_;
  hut::testing::FakeClock clock_;
  hut::testing::CaptureLogSink sink_;
  Logger log_{sink_, clock_, "test"};
  FakeRuntime runtime_{clock_};
  spec::Spec spec_;
  std::unique_ptr<store::Store> store_;
  std::vector<std::unique_ptr<controller::ServiceWorker>> workers_;
  std::unique_ptr<server::ControlApi> api_;
  std::unique_ptr<http::Server> server_;
  std::string address_;
  std::string home_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};  // the fake world stands still
  std::thread stepper_;
  std::mutex requests_mu_;
  std::map<std::string, int> requests_;  // "GET /path" -> count
};

TEST_F(CliRemoteTest, DeployWaitFollowsTheRolloutToSuccess) {
  Result r = Hut({"deploy", "backend", "1.0.0", "--wait", "--set", "GREETING=hello world", "--set",
                  "LEVEL=debug"});
  EXPECT_EQ(r.code, kExitOk) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, StartsWith("backend: rollout 1 started: revision 1 (first deployment) "
                                "(1.0.0), rolling strategy\n"));
  // The rollout's events, one line each with the time, as they happened.
  EXPECT_THAT(r.out, ContainsRegex("\n[0-9][0-9]:[0-9][0-9]:[0-9][0-9]  started backend-r1-"));
  EXPECT_THAT(r.out, HasSubstr("is ready: now serving\n"));
  EXPECT_THAT(r.out, HasSubstr("rollout 1: progressing -> succeeded\n"));
  EXPECT_THAT(r.out, EndsWith("backend: rollout 1 succeeded: revision 1 is serving\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("\r")));  // not a terminal: no status line
  std::optional<store::Rollout> latest = Latest();
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->phase, store::RolloutPhase::kSucceeded);
  EXPECT_EQ(Serving(), (std::map<std::string, int>{{"1.0.0", 2}}));
  // --set reached every replica of the release.
  const auto replicas = runtime_.Replicas("backend");
  ASSERT_FALSE(replicas.empty());
  for (const auto& replica : replicas) {
    EXPECT_EQ(runtime_.EnvOf(replica.name), (std::map<std::string, std::string>{
                                                {"GREETING", "hello world"}, {"LEVEL", "debug"}}));
  }
}

TEST_F(CliRemoteTest, DeployWithoutWaitPrintsOneLineAndReturns) {
  Result r = Hut({"deploy", "backend", "1.0.0", "--strategy", "replace"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "backend: rollout 1 started: revision 1 (first deployment) (1.0.0), replace "
            "strategy; follow it with `hut rollout status backend --watch`\n");
  std::optional<store::Rollout> latest = Latest();
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->strategy, spec::Strategy::kReplace);
}

TEST_F(CliRemoteTest, NeverReadyVersionIsRolledBackAndDeployExitsTwo) {
  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, kExitOk);
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kNeverReady);
  Result r = Hut({"deploy", "backend", "2.0.0", "--wait"});
  EXPECT_EQ(r.code, kExitRolledBack) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("  rollout 2: progressing -> "));
  EXPECT_THAT(r.out, HasSubstr("no new replica became ready within the progress deadline"));
  EXPECT_THAT(r.out, HasSubstr("-> rolled-back"));
  // The reason, on stderr.
  EXPECT_THAT(r.err, StartsWith("hut deploy: rollout 2 of backend was rolled back to revision 1: "
                                "no new replica became ready within the progress deadline (30s)"));
  EXPECT_EQ(Serving(), (std::map<std::string, int>{{"1.0.0", 2}}));
}

TEST_F(CliRemoteTest, FirstDeployThatNeverGetsReadyFailsWithExitOne) {
  // Nothing to roll back to: the rollout fails.
  runtime_.SetHealth("1.0.0", FakeRuntime::Health::kNeverReady);
  Result r = Hut({"deploy", "backend", "1.0.0", "--wait"});
  EXPECT_EQ(r.code, kExitFailure) << r.out << r.err;
  EXPECT_THAT(r.err, StartsWith("hut deploy: rollout 1 of backend ended failed: "));
}

TEST_F(CliRemoteTest, UndoGoesBackToThePreviousRevision) {
  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, kExitOk);
  ASSERT_EQ(Hut({"deploy", "backend", "2.0.0", "--wait"}).code, kExitOk);
  Result r = Hut({"rollout", "undo", "backend", "--wait"});
  EXPECT_EQ(r.code, kExitOk) << r.out << r.err;
  EXPECT_THAT(r.out, StartsWith("backend: rollout 3 started: revision 2 -> 3 (1.0.0), rolling "
                                "strategy\n"));
  EXPECT_THAT(r.out, EndsWith("backend: rollout 3 succeeded: revision 3 is serving\n"));
  EXPECT_EQ(Serving(), (std::map<std::string, int>{{"1.0.0", 2}}));

  // Without --wait, to a named revision.
  r = Hut({"rollout", "undo", "backend", "--to-revision", "2"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, StartsWith("backend: rollout 4 started: revision 3 -> 4 (2.0.0)"));
  WaitFinished();
  EXPECT_EQ(Serving(), (std::map<std::string, int>{{"2.0.0", 2}}));
}

TEST_F(CliRemoteTest, UndoToUnknownRevisionIsAClearError) {
  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, kExitOk);
  Result r = Hut({"rollout", "undo", "backend", "--to-revision", "9", "--wait"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "hut rollout undo: no revision 9 of backend in staging (see `hut rollout history`)\n");
  EXPECT_EQ(Latest()->id, 1);
}

TEST_F(CliRemoteTest, UnknownServiceNamesTheKnownOnes) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"deploy", "nope", "1.0.0"},
                                             {"deploy", "nope", "1.0.0", "--wait"},
                                             {"rollout", "status", "nope"},
                                             {"rollout", "status", "nope", "--watch"},
                                             {"rollout", "history", "nope"},
                                             {"rollout", "undo", "nope"}}) {
    Result r = Hut(args);
    EXPECT_EQ(r.code, kExitFailure) << args[0] << " " << args[1];
    EXPECT_THAT(r.err, HasSubstr("unknown service \"nope\" (services: backend, frontend)"));
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(CliRemoteTest, WrongTokenSaysSoAndWhereItCameFrom) {
  Result r = Hut({"rollout", "status", "backend"}, {{"HUT_TOKEN", "not-the-token"}});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("refused the admin token read from $HUT_TOKEN"));

  const std::string file = dir_.path() + "/wrong-token";
  WriteFile(file, "still-not-the-token\n", 0600);
  r = Hut({"deploy", "backend", "1.0.0"}, {{"HUT_TOKEN", ""}, {"HUT_TOKEN_FILE", file}});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("refused the admin token read from " + file));
  EXPECT_FALSE(Latest());  // nothing was deployed
}

TEST_F(CliRemoteTest, TokenIsFoundInTheFolderAndThroughTheServerPointer) {
  const std::string work = dir_.path() + "/work";
  fs::create_directories(work);
  ScopedChdir chdir(work);

  // Nowhere: the server's refusal says where hut looked.
  Result r = Hut({"rollout", "history", "backend"}, {{"HUT_TOKEN", ""}});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("no admin token for the hut server at " + address_));
  EXPECT_THAT(r.err, HasSubstr("$HUT_TOKEN, $HUT_TOKEN_FILE, " + home_ +
                               "/.hut/servers/127.0.0.1-" + std::to_string(server_->port()) +
                               ".json and " + work + "/.hut/admin-token"));

  // .hut/admin-token in the current folder, when there is no pointer; one
  // that others can read is refused.
  WriteFile(work + "/.hut/admin-token", "wrong\n", 0600);
  r = Hut({"rollout", "history", "backend"}, {{"HUT_TOKEN", ""}});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("refused the admin token read from " + work + "/.hut/admin-token"));
  ASSERT_EQ(chmod((work + "/.hut/admin-token").c_str(), 0644), 0);
  r = Hut({"rollout", "history", "backend"}, {{"HUT_TOKEN", ""}});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("readable by others"));

  // The pointer file of the server at this address names its token file; it
  // comes before the (wrong) token file in the current folder.
  const std::string state = dir_.path() + "/server-state";
  WriteFile(state + "/admin-token", std::string(kToken) + "\n", 0600);
  auto hp = server::ParseHostPort(address_);
  ASSERT_TRUE(hp.ok());
  std::optional<std::string> pointer = server::PointerPath(home_, *hp);
  ASSERT_TRUE(pointer);
  ASSERT_TRUE(
      server::WritePointer(*pointer, {address_, state, state + "/admin-token", "staging", getpid()})
          .ok());
  r = Hut({"rollout", "history", "backend"}, {{"HUT_TOKEN", ""}});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "backend: no revisions yet\n");
}

TEST_F(CliRemoteTest, ServerNotRunning) {
  const std::string address = "127.0.0.1:" + std::to_string(hut::testing::PickFreePort());
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"deploy", "backend", "1.0.0", "--wait"},
                                             {"rollout", "status", "backend"},
                                             {"rollout", "history", "backend", "-o", "json"},
                                             {"rollout", "undo", "backend"}}) {
    Result r = Hut(args, {{"HUT_ADDR", address}});
    EXPECT_EQ(r.code, kExitFailure);
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, EndsWith(": cannot reach the hut server at " + address +
                                " (start it with `hut up`; set HUT_ADDR to use another "
                                "address)\n"));
  }
  Result r = Hut({"rollout", "status", "backend"}, {{"HUT_ADDR", "nonsense"}});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("HUT_ADDR: \"nonsense\" is not HOST:PORT"));
}

TEST_F(CliRemoteTest, BadSetIsRefusedBeforeAnythingIsSent) {
  for (const std::string bad : {"X", "1X=2", "=value", "A-B=1"}) {
    Result r = Hut({"deploy", "backend", "1.0.0", "--set", "GOOD=1", "--set", bad});
    EXPECT_EQ(r.code, kExitUsage) << bad;
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, StartsWith("hut deploy: --set \"" + bad + "\": ")) << bad;
  }
  EXPECT_THAT(Hut({"deploy", "backend", "1", "--set", "X"}).err, HasSubstr("expected VAR=VALUE"));
  EXPECT_THAT(Hut({"deploy", "backend", "1", "--set", "1X=2"}).err,
              HasSubstr("\"1X\" is not a variable name"));
  EXPECT_FALSE(Latest());
  // A value may hold "=" and be empty.
  Result r = Hut({"deploy", "backend", "1.0.0", "--set", "A=b=c", "--set", "EMPTY="});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  WaitFinished();
  const auto replicas = runtime_.Replicas("backend");
  ASSERT_FALSE(replicas.empty());
  EXPECT_EQ(runtime_.EnvOf(replicas.front().name),
            (std::map<std::string, std::string>{{"A", "b=c"}, {"EMPTY", ""}}));
}

TEST_F(CliRemoteTest, JsonOutputIsTheApisJsonAndNothingElse) {
  Result r = Hut({"deploy", "backend", "1.0.0", "--set", "A=1", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  json deployed = json::parse(r.out);  // throws, and fails the test, on anything else
  EXPECT_EQ(deployed["rollout"]["id"], 1);
  EXPECT_EQ(deployed["rollout"]["to_revision"], 1);
  WaitFinished();

  r = Hut({"deploy", "backend", "2.0.0", "--wait", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  json waited = json::parse(r.out);
  EXPECT_EQ(waited["rollout"]["phase"], "succeeded");
  EXPECT_EQ(ServingVersions(waited["replicas"]), (std::map<std::string, int>{{"2.0.0", 2}}));

  r = Hut({"rollout", "status", "backend", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  json status = json::parse(r.out);
  EXPECT_EQ(status["rollout"]["to_revision"], 2);
  EXPECT_EQ(ServingVersions(status["replicas"]), (std::map<std::string, int>{{"2.0.0", 2}}));

  r = Hut({"rollout", "history", "backend", "-o", "json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  json history = json::parse(r.out);
  ASSERT_EQ(history["revisions"].size(), 2u);
  EXPECT_EQ(history["revisions"][1]["env"]["A"], "1");
  EXPECT_EQ(r.out, history.dump(2) + "\n");  // pretty

  r = Hut({"rollout", "undo", "backend", "-o", "json", "--wait"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(json::parse(r.out)["rollout"]["to_revision"], 3);

  EXPECT_EQ(Hut({"rollout", "status", "backend", "-o", "yaml"}).code, kExitUsage);
}

TEST_F(CliRemoteTest, HistoryIsNewestFirstAndMarksTheCurrentRevision) {
  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait", "--set", "MSG=hi there"}).code, kExitOk);
  ASSERT_EQ(Hut({"deploy", "backend", "2.0.0", "--wait"}).code, kExitOk);
  runtime_.SetHealth("3.0.0", FakeRuntime::Health::kNeverReady);
  ASSERT_EQ(Hut({"deploy", "backend", "3.0.0", "--wait"}).code, kExitRolledBack);

  Result r = Hut({"rollout", "history", "backend"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_THAT(lines[0], ContainsRegex("^ +REVISION +VERSION +CAUSE +CREATED +ENV$"));
  EXPECT_THAT(lines[1], ContainsRegex("^ +3 +3\\.0\\.0 +deploy +[0-9-]+ [0-9:]+ +-$"));
  // 3 was rolled back: 2 still serves.
  EXPECT_THAT(lines[2], ContainsRegex("^\\* +2 +2\\.0\\.0 +deploy "));
  EXPECT_THAT(lines[3], ContainsRegex("^ +1 +1\\.0\\.0 +deploy .* MSG=\"hi there\"$"));
  EXPECT_EQ(lines[4], "(* serving now)");
}

TEST_F(CliRemoteTest, StatusShowsTheRolloutAndAReplicaTable) {
  Result r = Hut({"rollout", "status", "backend"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "backend: no rollout yet\n\nNo replicas.\n");
  r = Hut({"rollout", "status", "backend", "--watch"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("backend has no rollout to watch"));

  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, kExitOk);
  r = Hut({"rollout", "status", "backend"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, StartsWith("Service:   backend in staging\n"
                                "Rollout:   1 (rolling), revision 1 (first deployment)\n"
                                "Phase:     succeeded\n"));
  EXPECT_THAT(r.out, HasSubstr("\nTraffic:   revision 1 100%\n"));
  EXPECT_THAT(r.out, ContainsRegex("\nNAME +REVISION +VERSION +STATE +SERVING +RESTARTS +REASON\n"));
  EXPECT_THAT(r.out, ContainsRegex("\nbackend-r1-[0-9]+ +1 +1\\.0\\.0 +ready +yes +0 +-\n"));

  // --env must be the server's.
  r = Hut({"rollout", "status", "backend", "--env", "production"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("this server runs environment \"staging\", not \"production\""));
  EXPECT_EQ(Hut({"rollout", "status", "backend", "--env", "staging"}).code, kExitOk);
  r = Hut({"rollout", "status", "backend"}, {{"HUT_ENV", "production"}});
  EXPECT_EQ(r.code, kExitFailure);
}

TEST_F(CliRemoteTest, StatusWatchFollowsARunningRolloutToItsEnd) {
  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, kExitOk);
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kNeverReady);
  // The world stands still until --watch has taken its snapshot.
  paused_ = true;
  Result started = Hut({"deploy", "backend", "2.0.0"});
  ASSERT_EQ(started.code, kExitOk) << started.err;
  std::thread resume = ResumeAfter(milliseconds(500));
  Result r = Hut({"rollout", "status", "backend", "--watch"});
  resume.join();
  EXPECT_EQ(r.code, kExitRolledBack) << r.out << r.err;
  EXPECT_THAT(r.out, StartsWith("Service:   backend in staging\n"
                                "Rollout:   2 (rolling), revision 1 -> 2\n"));
  EXPECT_THAT(r.out, HasSubstr("\nPhase:     progressing\n"));
  // Changes after the snapshot, as they happened.
  EXPECT_THAT(r.out, ContainsRegex("\n\n[0-9:]+  [^\n]+\n"));
  EXPECT_THAT(r.out, HasSubstr("no new replica became ready within the progress deadline"));
  EXPECT_THAT(r.out, ContainsRegex("rollout 2: [a-z-]+ -> rolled-back"));
  EXPECT_THAT(r.err, HasSubstr("rollout 2 of backend was rolled back to revision 1"));

  // Once finished, --watch answers at once with the rollout's exit code.
  r = Hut({"rollout", "status", "backend", "--watch"});
  EXPECT_EQ(r.code, kExitRolledBack);
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kHealthy);
  ASSERT_EQ(Hut({"deploy", "backend", "2.0.0"}).code, kExitOk);
  r = Hut({"rollout", "status", "backend", "--watch"});
  EXPECT_EQ(r.code, kExitOk) << r.out << r.err;
  EXPECT_THAT(r.out, EndsWith("backend: rollout 3 succeeded: revision 3 is serving\n"));
  r = Hut({"rollout", "status", "backend", "--watch"});
  EXPECT_EQ(r.code, kExitOk);
}

TEST_F(CliRemoteTest, OnATerminalAStatusLineIsRedrawnInPlace) {
  // Still for two polls, so that the status line shows a rollout in progress.
  paused_ = true;
  std::thread resume = ResumeAfter(milliseconds(700));
  Result r = Hut({"deploy", "backend", "1.0.0", "--wait"}, {}, /*interactive=*/true);
  resume.join();
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("rollout 1 progressing: revision 1 "));
  EXPECT_THAT(r.out, HasSubstr("\r\033[K"));
  // A status line is always wiped before the next line is printed: it never
  // ends in a newline and nothing follows it on its line.
  EXPECT_THAT(r.out, Not(ContainsRegex("rollout 1 progressing: [^\r]*\n")));
  EXPECT_THAT(r.out, Not(ContainsRegex("serving[^\n\r]*[0-9][0-9]:[0-9][0-9]:[0-9][0-9]  ")));
  EXPECT_THAT(r.out, EndsWith("\nbackend: rollout 1 succeeded: revision 1 is serving\n"));
}

// `hut alerts list|ack` against a real API and router: the table, the
// states, JSON, and an unknown id said plainly.
TEST_F(CliRemoteTest, AlertsAreListedAndAcknowledged) {
  alerting::RouterOptions o;
  o.environment = "staging";
  alerting::AlertRouter router(*store_, clock_, log_, o, [] {});
  api_->AcknowledgeAlertsWith(
      [&router](int64_t id, const std::string& by) { return router.Acknowledge(id, by); });
  EXPECT_THAT(Hut({"alerts", "list"}).out, HasSubstr("No alerts in staging."));
  alerting::ReceivedAlert a;
  a.labels = {{"alertname", "HighErrorRate"}, {"severity", "critical"}, {"service", "backend"}};
  a.annotations = {{"summary", "backend: 21% of requests fail"}};
  a.starts_at = clock_.Now();
  a.fingerprint = "fp1";
  alerting::WebhookNotification n;
  n.receiver = "hut-page";
  n.alerts = {a};
  ASSERT_TRUE(router.Receive(n).ok());

  Result list = Hut({"alerts", "list"});
  ASSERT_EQ(list.code, kExitOk) << list.err;
  EXPECT_THAT(list.out, ContainsRegex("ID +STATE +SEVERITY +ALERT +SERVICE +SINCE +ESCALATIONS "
                                      "+DEADLINE"));
  EXPECT_THAT(list.out, ContainsRegex("1 +firing +critical +HighErrorRate +backend .* 0 +ack by "));
  Result none = Hut({"alerts", "list", "--state", "acked"});
  EXPECT_THAT(none.out, HasSubstr("No alerts acked in staging."));
  EXPECT_NE(Hut({"alerts", "list", "--state", "asleep"}).code, kExitOk);

  Result ack = Hut({"alerts", "ack", "1", "--by", "ada"});
  ASSERT_EQ(ack.code, kExitOk) << ack.err;
  EXPECT_THAT(ack.out, HasSubstr("alert 1 (HighErrorRate, critical) acknowledged by ada"));
  Result json_list = Hut({"alerts", "list", "-o", "json"});
  const json alerts = json::parse(json_list.out);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["state"], "acked");
  EXPECT_EQ(alerts[0]["acked_by"], "ada");
  EXPECT_THAT(Hut({"alerts", "list"}).out, HasSubstr("acked by ada"));

  Result unknown = Hut({"alerts", "ack", "42"});
  EXPECT_EQ(unknown.code, kExitFailure);
  EXPECT_THAT(unknown.err, HasSubstr("hut alerts ack: no alert 42 in environment staging"));
}

TEST_F(CliRemoteTest, ABusyServiceRefusesASecondDeploy) {
  paused_ = true;  // so that the first rollout cannot finish
  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0"}).code, kExitOk);
  Result r = Hut({"deploy", "backend", "2.0.0", "--wait"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("hut deploy: rollout 1 of backend in staging is still running"));
}

// `hut logs -f`: what was there, then each line as it comes, in order, once;
// it stops by itself when the server goes away.
TEST_F(CliRemoteTest, LogsFollowPrintsNewLinesAsTheyComeAndStopsWithTheServer) {
  std::mutex mu;
  std::condition_variable asked;
  std::vector<std::string> stored = {R"({"ts":"2026-12-07T10:00:00.000Z","level":"INFO","msg":"old","service":"backend","replica":"backend-r1-a"})"};
  std::vector<int64_t> afters;  // the follower's cursors, as asked
  api_->ReadLogsWith([&](const logs::LogQuery& q) -> absl::StatusOr<logs::LogQueryResult> {
    std::lock_guard<std::mutex> lock(mu);
    logs::LogQueryResult r;
    const int64_t after = q.after.value_or(0);
    if (q.after) {
      afters.push_back(after);
      asked.notify_all();
    }
    for (size_t i = static_cast<size_t>(after); i < stored.size(); ++i) {
      r.lines.push_back({.ts_ms = 0, .line = stored[i], .cursor = static_cast<int64_t>(i) + 1});
    }
    r.cursor = static_cast<int64_t>(stored.size());
    return r;
  });
  Result result;
  std::thread follow([&] { result = Hut({"logs", "backend", "-f"}); });
  // Once it follows from the end, a new line; then, once it has asked past
  // that line (so it has printed it), the server goes away.
  const auto asked_after = [&](int64_t cursor) {
    std::unique_lock<std::mutex> lock(mu);
    return asked.wait_for(lock, std::chrono::seconds(10), [&] {
      return std::find(afters.begin(), afters.end(), cursor) != afters.end();
    });
  };
  ASSERT_TRUE(asked_after(1));
  {
    std::lock_guard<std::mutex> lock(mu);
    stored.push_back(R"({"ts":"2026-12-07T10:00:01.000Z","level":"WARN","msg":"new","service":"backend","replica":"backend-r1-a"})");
  }
  ASSERT_TRUE(asked_after(2));
  server_->Shutdown(milliseconds(1000));
  follow.join();
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_THAT(result.err, ::testing::HasSubstr("the server went away; stopped following"));
  const size_t old_at = result.out.find(" old");
  const size_t new_at = result.out.find(" new");
  ASSERT_NE(old_at, std::string::npos) << result.out;
  ASSERT_NE(new_at, std::string::npos) << result.out;
  EXPECT_LT(old_at, new_at);
  EXPECT_EQ(result.out.find(" new", new_at + 1), std::string::npos) << "printed twice:\n"
                                                                    << result.out;
}

TEST_F(CliRemoteTest, LastEventIdFindsTheEndOfTheLog) {
  auto target = ResolveServer(Io{std::cout, std::cerr,
                                 [this](const std::string& name) -> std::optional<std::string> {
                                   if (name == "HUT_ADDR") return address_;
                                   if (name == "HUT_TOKEN") return std::string(kToken);
                                   return std::nullopt;
                                 }},
                              dir_.path());
  ASSERT_TRUE(target.ok()) << target.status();
  ApiClient client(*target, "staging");
  auto last = client.LastEventId("backend");
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 0);
  for (const char* version : {"1.0.0", "2.0.0", "3.0.0"}) {
    ASSERT_EQ(Hut({"deploy", "backend", version, "--wait"}).code, kExitOk);
    auto events = store_->EventsAfter(0, 1000, "staging", "backend");
    ASSERT_TRUE(events.ok() && !events->empty());
    last = client.LastEventId("backend");
    ASSERT_TRUE(last.ok()) << last.status();
    EXPECT_EQ(*last, events->back().id);
  }
  EXPECT_EQ(*client.LastEventId("frontend"), 0);
}

TEST_F(CliRemoteTest, FollowPrintsEachEventOnceAndInOrder) {
  Result r = Hut({"deploy", "backend", "1.0.0", "--wait"});
  ASSERT_EQ(r.code, kExitOk) << r.out << r.err;
  ExpectEachEventOnceInOrder(r.out, 1);
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kNeverReady);
  r = Hut({"deploy", "backend", "2.0.0", "--wait"});
  ASSERT_EQ(r.code, kExitRolledBack) << r.out << r.err;
  ExpectEachEventOnceInOrder(r.out, 2);
  // Only rollout 2's events, though rollout 1 recorded some since (drains).
  EXPECT_THAT(r.out, Not(HasSubstr("rollout 1: ")));
}

TEST_F(CliRemoteTest, FollowingReadsTheStreamInsteadOfPolling) {
  // The rollout stands still for 3 s: polling every 300 ms would GET the
  // rollout and the events about ten times each.
  paused_ = true;
  std::thread resume = ResumeAfter(milliseconds(3000));
  Result r = Hut({"deploy", "backend", "1.0.0", "--wait"});
  resume.join();
  ASSERT_EQ(r.code, kExitOk) << r.out << r.err;
  ExpectEachEventOnceInOrder(r.out, 1);
  // One stream that is never reopened, and one to read the last actions' events.
  EXPECT_EQ(Requests("GET /api/v1/events/stream"), 2);
  EXPECT_EQ(Requests("GET /api/v1/events"), 1);  // the end of the log, before the deploy
  // At the start, after each of the rollout's few "rollout." events, at the end.
  EXPECT_LE(Requests("GET /api/v1/services/backend/rollout"), 6);
}

TEST_F(CliRemoteTest, FollowResumesAfterTheServerRestartsWithoutLosingOrRepeatingEvents) {
  paused_ = true;  // the rollout waits until the server is down
  Result r;
  std::thread follow([&] { r = Hut({"deploy", "backend", "1.0.0", "--wait"}); });
  EXPECT_TRUE(WaitForStreams(1));
  const uint16_t port = server_->port();
  server_->Shutdown(milliseconds(1000));
  server_.reset();
  // The rollout goes on without the API: events are recorded that hut has
  // not seen when the server comes back.
  // The test moves the fake world itself: a second at a time, each time until
  // both workers have reconciled and wait on the clock again.
  const size_t before = StoredMessages(1).size();
  for (int i = 0; i < 100 && StoredMessages(1).size() < before + 2; ++i) {
    runtime_.Step();
    clock_.Advance(std::chrono::seconds(1));
    clock_.WaitForWaiters(static_cast<int>(workers_.size()));
  }
  EXPECT_GE(StoredMessages(1).size(), before + 2);
  paused_ = false;
  StartServer(port);  // when it fails, hut gives up within ~30 s
  follow.join();
  EXPECT_EQ(r.code, kExitOk) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  ExpectEachEventOnceInOrder(r.out, 1);
  EXPECT_GE(Requests("GET /api/v1/events/stream"), 2);
  EXPECT_THAT(r.out, EndsWith("backend: rollout 1 succeeded: revision 1 is serving\n"));
}

TEST_F(CliRemoteTest, SilentStreamIsCheckedByGetAndReopened) {
  // A short safety net: while the rollout stands still the stream is silent,
  // so hut GETs the events and the rollout, and opens the stream again;
  // events seen both ways are printed once.
  paused_ = true;
  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0"}).code, kExitOk);
  std::thread resume = ResumeAfter(milliseconds(1500));
  ApiClient client = Client();
  std::ostringstream out, err;
  Io io{out, err, nullptr};
  FollowOptions options;
  options.safety_net = milliseconds(200);
  options.end_grace = milliseconds(100);
  const int code = FollowRollout(client, "hut deploy", "backend", 1, 0, false, io, false, options);
  resume.join();
  EXPECT_EQ(code, kExitOk) << out.str() << err.str();
  EXPECT_EQ(err.str(), "");
  ExpectEachEventOnceInOrder(out.str(), 1);
  EXPECT_GE(Requests("GET /api/v1/events/stream"), 4);
  EXPECT_GE(Requests("GET /api/v1/events"), 3);
}

TEST_F(CliRemoteTest, FollowGivesUpWithBackoffWhenTheServerStaysAway) {
  paused_ = true;
  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0"}).code, kExitOk);
  ApiClient client = Client();
  std::ostringstream out, err;
  Io io{out, err, nullptr};
  FollowOptions options;
  options.reconnect_min = milliseconds(10);
  options.reconnect_max = milliseconds(25);
  options.max_failures = 5;
  std::vector<milliseconds> waits;  // recorded, not slept: the refusals are immediate
  options.sleep = [&waits](milliseconds wait) { waits.push_back(wait); };
  int code = -1;
  std::thread follow([&] {
    code = FollowRollout(client, "hut deploy", "backend", 1, 0, false, io, false, options);
  });
  EXPECT_TRUE(WaitForStreams(1));
  server_->Shutdown(milliseconds(1000));
  follow.join();
  EXPECT_EQ(code, kExitFailure);
  // The first retry at once, then doubling up to the cap; the fifth failure ends it.
  EXPECT_EQ(waits,
            (std::vector<milliseconds>{milliseconds(10), milliseconds(20), milliseconds(25)}));
  EXPECT_THAT(err.str(), StartsWith("hut deploy: lost the server while following rollout 1 of "
                                    "backend: cannot reach the hut server at " +
                                    address_));
  EXPECT_THAT(err.str(), HasSubstr("`hut rollout status backend --env staging --watch` follows "
                                   "it again"));
}

// Address and token resolution without a server (discovery.h's order).
TEST(ResolveServerTest, DefaultsAndOrder) {
  hut::testing::TempDir dir;
  std::map<std::string, std::string> vars;
  std::ostringstream out, err;
  Io io{out, err, [&vars](const std::string& name) -> std::optional<std::string> {
          auto it = vars.find(name);
          if (it == vars.end()) return std::nullopt;
          return it->second;
        }};
  absl::StatusOr<ServerTarget> t = ResolveServer(io, dir.path());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->address.ToString(), "127.0.0.1:7480");
  EXPECT_FALSE(t->token);
  EXPECT_THAT(t->token_source, HasSubstr("no server pointer ($HOME is unset)"));

  vars["HUT_ADDR"] = ":9000";
  vars["HOME"] = dir.path();
  WriteFile(dir.path() + "/.hut/admin-token", "from-folder\n", 0600);
  t = ResolveServer(io, dir.path());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->address.ToString(), "127.0.0.1:9000");
  ASSERT_TRUE(t->token);
  EXPECT_EQ(t->token->Reveal(), "from-folder");

  WriteFile(dir.path() + "/named-token", "from-file", 0600);
  vars["HUT_TOKEN_FILE"] = dir.path() + "/named-token";
  t = ResolveServer(io, dir.path());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->token->Reveal(), "from-file");
  vars["HUT_TOKEN"] = "from-variable";
  t = ResolveServer(io, dir.path());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->token->Reveal(), "from-variable");
  EXPECT_EQ(t->token_source, "$HUT_TOKEN");

  // A token file that is named but missing is an error, not a fall-through.
  vars.erase("HUT_TOKEN");
  vars["HUT_TOKEN_FILE"] = dir.path() + "/missing";
  EXPECT_FALSE(ResolveServer(io, dir.path()).ok());
}

// hut secrets against a real API over the local backend: a value goes in
// on stdin, never shows unless revealed, and each reveal is an event.
TEST_F(CliRemoteTest, SecretsAreSetFromStdinListedAndRevealedOnlyOnRequest) {
  auto backend = secrets::LocalSecretBackend::Open(
      {.file = dir_.path() + "/secrets/store.json", .key_file = dir_.path() + "/secrets/master.key",
       .key = Secret()},
      clock_);
  ASSERT_TRUE(backend.ok()) << backend.status();
  secrets::SecretsService service({.project = "foohut", .environment = "staging",
                                   .backend = backend->get(), .store = store_.get(),
                                   .clock = &clock_});
  api_->ServeSecretsWith(&service);

  std::istringstream value("sk_live_0123456789\n");
  Result set = Hut({"secrets", "set", "third-party-api-keys", "--by", "alice"}, {}, false, &value);
  ASSERT_EQ(set.code, kExitOk) << set.err;
  EXPECT_THAT(set.out, HasSubstr("is current"));
  Result list = Hut({"secrets", "list"});
  ASSERT_EQ(list.code, kExitOk) << list.err;
  EXPECT_THAT(list.out, HasSubstr("third-party-api-keys"));
  EXPECT_THAT(list.out, HasSubstr("(local)"));
  Result get = Hut({"secrets", "get", "third-party-api-keys"});
  ASSERT_EQ(get.code, kExitOk) << get.err;
  EXPECT_THAT(get.out, Not(HasSubstr("sk_live")));
  Result history = Hut({"secrets", "history", "third-party-api-keys", "-o", "json"});
  ASSERT_EQ(history.code, kExitOk) << history.err;
  EXPECT_THAT(history.out, HasSubstr("\"current\""));
  EXPECT_THAT(history.out, Not(HasSubstr("sk_live")));
  Result reveal = Hut({"secrets", "get", "third-party-api-keys", "--reveal", "--by", "bob"});
  ASSERT_EQ(reveal.code, kExitOk) << reveal.err;
  EXPECT_EQ(reveal.out, "sk_live_0123456789\n");

  auto events = store_->EventsAfter(0, 1000, "staging");
  ASSERT_TRUE(events.ok());
  std::string recorded;
  for (const store::Event& e : *events) recorded += e.type + " " + e.message + " " + e.data.dump() + "\n";
  EXPECT_THAT(recorded, HasSubstr("secret.set secret third-party-api-keys set by alice"));
  EXPECT_THAT(recorded, HasSubstr("secret.revealed secret third-party-api-keys"));
  EXPECT_THAT(recorded, HasSubstr("revealed to bob"));
  EXPECT_THAT(recorded, Not(HasSubstr("sk_live")));

  std::istringstream empty("");
  Result none = Hut({"secrets", "set", "jwt"}, {}, false, &empty);
  EXPECT_EQ(none.code, kExitFailure);
  EXPECT_THAT(none.err, HasSubstr("never on the command line"));
  Result bad = Hut({"secrets", "get", "../admin-token"});
  EXPECT_EQ(bad.code, kExitFailure);
  EXPECT_THAT(bad.err, HasSubstr("is not a secret name"));
  Result missing = Hut({"secrets", "get", "nothing"});
  EXPECT_EQ(missing.code, kExitFailure);
  EXPECT_THAT(missing.err, HasSubstr("no secret foohut/staging/nothing"));
  api_->ServeSecretsWith(nullptr);
}

}  // namespace
TEST_F(CliRemoteTest, RolloutRestartReplacesEveryReplicaWithTheSameRelease) {
  Result none = Hut({"rollout", "restart", "backend"});
  EXPECT_EQ(none.code, kExitFailure);
  EXPECT_THAT(none.err, HasSubstr("nothing to restart"));
  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, kExitOk);
  std::set<std::string> before;
  const auto first = runtime_.Replicas("backend");
  for (const auto& r : first) before.insert(r.name);
  Result restart = Hut({"rollout", "restart", "backend", "--wait"});
  EXPECT_EQ(restart.code, kExitOk) << restart.out << restart.err;
  EXPECT_THAT(restart.out, HasSubstr("revision 1 -> 2"));
  EXPECT_EQ(Serving(), (std::map<std::string, int>{{"1.0.0", 2}}));
  const auto after = runtime_.Replicas("backend");
  for (const auto& r : after) {
    if (r.state != runtime::ReplicaState::kDraining) {
      EXPECT_EQ(before.count(r.name), 0u) << r.name << " was not replaced";
    }
  }
  Result history = Hut({"rollout", "history", "backend"});
  EXPECT_THAT(history.out, HasSubstr("restart of revision 1"));
  // Undo to the current revision points at restart.
  Result undo = Hut({"rollout", "undo", "backend", "--to-revision", "2"});
  EXPECT_EQ(undo.code, kExitFailure);
  EXPECT_THAT(undo.err, HasSubstr("`hut rollout restart` starts new replicas of it"));
}

TEST_F(CliRemoteTest, GetServicesAndRollouts) {
  ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, kExitOk);
  ASSERT_EQ(Hut({"deploy", "backend", "1.1.0", "--wait"}).code, kExitOk);
  Result services = Hut({"get", "services"});
  EXPECT_EQ(services.code, kExitOk) << services.err;
  EXPECT_THAT(services.out, HasSubstr("NAME"));
  EXPECT_THAT(services.out, ::testing::ContainsRegex("backend +2 +2/2 +2 +2 +succeeded"));
  EXPECT_THAT(services.out, ::testing::ContainsRegex("frontend +- +0/1 +0 +- +-"));
  Result wide = Hut({"get", "services", "-o", "wide"});
  EXPECT_THAT(wide.out, HasSubstr("STRATEGY"));
  Result rollouts = Hut({"get", "rollouts", "backend", "-o", "wide"});
  EXPECT_EQ(rollouts.code, kExitOk) << rollouts.err;
  EXPECT_THAT(rollouts.out, ::testing::ContainsRegex("2 +backend +1 -> 2 +rolling +succeeded"));
  EXPECT_THAT(rollouts.out, ::testing::ContainsRegex("1 +backend +1 +rolling +succeeded"));
  EXPECT_LT(rollouts.out.find("1 -> 2"), rollouts.out.find("\n1 "));  // newest first
  Result as_json = Hut({"get", "rollouts", "-o", "json", "--limit", "1"});
  json page = json::parse(as_json.out, nullptr, false);
  ASSERT_TRUE(page.is_object()) << as_json.out;
  ASSERT_EQ(page["rollouts"].size(), 1u);
  EXPECT_EQ(page["rollouts"][0]["to_revision"], 2);
  Result unknown = Hut({"get", "rollouts", "cache"});
  EXPECT_EQ(unknown.code, kExitFailure);
  EXPECT_THAT(unknown.err, HasSubstr("no service \"cache\""));
  EXPECT_EQ(Hut({"get", "pods"}).code, kExitUsage);
}

}  // namespace hut::cli
