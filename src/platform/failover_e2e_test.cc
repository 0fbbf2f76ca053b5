// Two `hut server`s on one PostgreSQL store: one drives the environment, the
// other stands by. The active one is SIGKILLed in the middle of a rollout;
// the standby takes over within 10 s, the rollout finishes, and the event
// stream, followed across the two servers, loses and repeats nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/common/subprocess.h"
#include "src/http/client.h"
#include "src/http/sse.h"
#include "src/local/postgres_server.h"
#include "testing/test_env.h"

namespace hut::platform {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

// One `hut server` process and how to talk to it.
struct Server {
  std::string name;
  std::string state;
  uint16_t port = 0;
  std::unique_ptr<Process> process;

  std::string Log() const {
    std::ifstream in(state + ".log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string Token() const {
    std::ifstream in(state + "/admin-token");
    std::string token;
    std::getline(in, token);
    return token;
  }
  bool Answers() const {
    http::ClientRequest r;
    r.port = port;
    r.target = "/api/v1/services";
    r.timeout = milliseconds(500);
    r.headers.emplace("Authorization", "Bearer " + Token());
    auto answer = http::Fetch(r);
    return answer.ok() && answer->status == 200;
  }
  absl::StatusOr<json> Call(const std::string& method, const std::string& target,
                            const json& body = nullptr) const {
    http::ClientRequest r;
    r.method = method;
    r.port = port;
    r.target = target;
    r.headers.emplace("Authorization", "Bearer " + Token());
    if (!body.is_null()) {
      r.body = body.dump();
      r.headers.emplace("Content-Type", "application/json");
    }
    auto answer = http::Fetch(r);
    if (!answer.ok()) return answer.status();
    json j = json::parse(answer->body, nullptr, false);
    if (answer->status >= 300 || j.is_discarded()) {
      return absl::InternalError(absl::StrCat("HTTP ", answer->status, ": ", answer->body));
    }
    return j;
  }
};

// Follows /api/v1/events/stream of a server from an id, on a thread, until
// the connection ends; collects the ids it sees.
class Follower {
 public:
  Follower(const Server& server, int64_t after) {
    thread_ = std::thread([this, port = server.port, token = server.Token(), after] {
      http::ClientRequest r;
      r.port = port;
      r.target = absl::StrCat("/api/v1/events/stream?after=", after);
      r.headers.emplace("Authorization", "Bearer " + token);
      r.timeout = seconds(60);
      http::SseParser parser;
      (void)http::FetchStream(r, [&](std::string_view piece) {
        auto events = parser.Feed(piece);
        if (!events.ok()) return false;
        std::lock_guard<std::mutex> lock(mu_);
        for (const http::SseEvent& e : *events) {
          int64_t id = 0;
          if (absl::SimpleAtoi(e.id, &id)) ids_.push_back(id);
        }
        return !stop_.load();
      });
    });
  }
  ~Follower() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<int64_t> ids() {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_;
  }

 private:
  std::mutex mu_;
  std::vector<int64_t> ids_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    local::PostgresOptions pg;
    pg.data_dir = dir_.path() + "/store";
    pg.port = testing::PickFreePort();
    pg.database = "hut";
    pg.user = "hut";
    pg.unsafe_no_fsync = true;
    auto server = local::PostgresServer::Start(pg);
    ASSERT_TRUE(server.ok()) << server.status();
    store_ = std::move(*server);

    // The release serves <dir>/web-<version>: 2.0.0's folder appears only
    // when the test says, so its rollout is in flight until then.
    std::filesystem::create_directories(dir_.path() + "/web-1.0.0");
    std::ofstream(dir_.path() + "/web-1.0.0/index.html") << "<html>1.0.0</html>";
    service_port_ = testing::PickFreePort();
    std::ofstream(Spec()) << absl::StrCat(R"(
project: foohut
services:
  frontend:
    port: )", service_port_, R"(
    release:
      command: [")", testing::BinPath("foohut-api"), R"(", serve, --static, ")", dir_.path(),
                                           R"(/web-{{version}}"]
      env: {FOOHUT_VERSION: "{{version}}", FOOHUT_LOG_LEVEL: WARN}
    health: {interval: 200ms, timeout: 200ms, start_period: 60s}
    termination_grace_period: 2s
policies:
  rolling: {progress_deadline: 120s}
environments:
  staging:
    runtime: local
    strategy: rolling
    services: {frontend: {replicas: 3}}
)");
  }

  void TearDown() override {
    for (Server* s : {&a_, &b_}) {
      if (s->process) s->process->Stop(seconds(30));
    }
  }

  std::string Spec() const { return dir_.path() + "/foohut.yaml"; }

  void StartServer(Server& s, const std::string& name) {
    s.name = name;
    s.state = dir_.path() + "/" + name;
    s.port = testing::PickFreePort();
    ProcessOptions o;
    o.argv = {testing::BinPath("hut"), "server", "-f", Spec(), "--env", "staging",
              "--state", s.state, "--listen", absl::StrCat("127.0.0.1:", s.port),
              "--store", store_->url(), "--prometheus-port", "0", "--alertmanager-port", "0",
              "--jaeger-port", "off"};
    o.env = {{"HOME", s.state + "-home"}};
    o.stdout_mode = o.stderr_mode = OutputMode::kFile;
    o.stdout_path = o.stderr_path = s.state + ".log";
    auto p = Process::Spawn(o);
    ASSERT_TRUE(p.ok()) << p.status();
    s.process = std::move(*p);
  }

  // Waits until `done` holds, checking every 100 ms, for `limit`.
  static bool WaitFor(const std::function<bool()>& done, milliseconds limit) {
    for (auto until = Steady::now() + limit; Steady::now() < until;) {
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return done();
  }

  json Rollout(const Server& s) {
    auto r = s.Call("GET", "/api/v1/services/frontend/rollout");
    return r.ok() ? *r : json::object();
  }

  testing::TempDir dir_;
  std::unique_ptr<local::PostgresServer> store_;
  uint16_t service_port_ = 0;
  Server a_, b_;
};

TEST_F(FailoverTest, TheStandbyTakesOverARolloutInFlightWithinTenSeconds) {
  StartServer(a_, "a");
  ASSERT_TRUE(WaitFor([&] { return a_.Answers() || a_.process->TryWait().has_value(); },
                      seconds(60)))
      << a_.Log();
  ASSERT_TRUE(a_.Answers()) << a_.Log();
  StartServer(b_, "b");
  ASSERT_TRUE(WaitFor([&] { return b_.Log().find("standing by") != std::string::npos; },
                      seconds(30)))
      << b_.Log();
  EXPECT_FALSE(b_.Answers()) << "a standby serves no API";

  Follower before(a_, 0);
  ASSERT_TRUE(a_.Call("POST", "/api/v1/services/frontend/deploy", {{"version", "1.0.0"}}).ok());
  ASSERT_TRUE(WaitFor([&] { return Rollout(a_)["rollout"]["phase"] == "succeeded"; }, seconds(60)))
      << Rollout(a_).dump(2);
  ASSERT_TRUE(a_.Call("POST", "/api/v1/services/frontend/deploy", {{"version", "2.0.0"}}).ok());
  // In flight: a replica of 2.0.0 runs (and cannot become ready yet).
  ASSERT_TRUE(WaitFor(
      [&] {
        const json state = Rollout(a_);
        if (state["rollout"]["phase"] != "progressing") return false;
        for (const json& r : state["replicas"]) {
          if (r["version"] == "2.0.0") return true;
        }
        return false;
      },
      seconds(30)));

  ASSERT_EQ(kill(a_.process->pid(), SIGKILL), 0);
  const auto killed = Steady::now();
  ASSERT_TRUE(a_.process->WaitFor(seconds(10)).has_value());
  before.Stop();
  ASSERT_TRUE(WaitFor([&] { return b_.Answers(); }, seconds(20))) << b_.Log();
  const double takeover = std::chrono::duration<double>(Steady::now() - killed).count();
  std::cout << "takeover: the standby's API answered " << takeover << " s after the SIGKILL\n";
  EXPECT_LE(takeover, 10.0) << b_.Log();

  const std::vector<int64_t> seen_before = before.ids();
  ASSERT_FALSE(seen_before.empty());
  Follower after(b_, seen_before.back());
  std::filesystem::create_directories(dir_.path() + "/web-2.0.0");
  std::ofstream(dir_.path() + "/web-2.0.0/index.html") << "<html>2.0.0</html>";
  ASSERT_TRUE(WaitFor([&] { return Rollout(b_)["rollout"]["finished_at"].is_string(); },
                      seconds(60)))
      << Rollout(b_).dump(2) << b_.Log();
  const json done = Rollout(b_);
  EXPECT_EQ(done["rollout"]["phase"], "succeeded") << done.dump(2);
  EXPECT_EQ(done["rollout"]["to_revision"], 2);
  int serving_new = 0;
  for (const json& r : done["replicas"]) serving_new += r["version"] == "2.0.0" && r["serving"] == true;
  EXPECT_EQ(serving_new, 3) << done.dump(2);

  // Every event once, in order, across the two streams: what they carried,
  // one after the other, is the store's log (up to when they stopped).
  auto ids_of = [&] {
    std::vector<int64_t> ids;
    auto all = b_.Call("GET", "/api/v1/events?after=0&limit=1000");
    EXPECT_TRUE(all.ok()) << all.status();
    if (all.ok()) {
      for (const json& e : (*all)["events"]) ids.push_back(e["id"].get<int64_t>());
    }
    return ids;
  };
  const std::vector<int64_t> stored = ids_of();
  ASSERT_FALSE(stored.empty());
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::vector<int64_t> ids = after.ids();
        return !ids.empty() && ids.back() >= stored.back();
      },
      seconds(5)));
  after.Stop();
  std::vector<int64_t> streamed = seen_before;
  for (int64_t id : after.ids()) streamed.push_back(id);
  const std::vector<int64_t> now = ids_of();
  ASSERT_GE(now.size(), streamed.size());
  EXPECT_EQ(streamed, std::vector<int64_t>(now.begin(), now.begin() + streamed.size()));
  EXPECT_GE(streamed.size(), stored.size());
  EXPECT_EQ(std::set<int64_t>(now.begin(), now.end()).size(), now.size()) << "no id twice";
  std::cout << "events: " << seen_before.size() << " streamed by the first server, "
            << after.ids().size() << " by the second, none lost or repeated\n";
}

}  // namespace
}  // namespace hut::platform
