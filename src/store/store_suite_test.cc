// The Store suite: every test runs on SQLite and on a real PostgreSQL
// (started once for the binary on loopback by hut::local::PostgresServer,
// with a fresh schema for each test). SQLite-only tests (the file, its
// format and migrations) are in sqlite_store_test.cc.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/local/postgres_server.h"
#include "src/store/open.h"
#include "src/store/postgres_store.h"
#include "src/store/rules.h"
#include "src/store/sqlite_store.h"
#include "src/store/store_test_util.h"
#include "testing/fake_clock.h"
#include "testing/test_env.h"

namespace hut::store {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

// ---- The PostgreSQL server: one per binary, started at first use ----

std::unique_ptr<testing::TempDir>& PgDir() {
  static auto* dir = new std::unique_ptr<testing::TempDir>();
  return *dir;
}

std::unique_ptr<local::PostgresServer>& PgServer() {
  static auto* server = new std::unique_ptr<local::PostgresServer>();
  return *server;
}

// Stops the server (and removes its folder) when the tests end.
class PostgresEnvironment final : public ::testing::Environment {
 public:
  void TearDown() override {
    PgServer().reset();
    PgDir().reset();
  }
};

[[maybe_unused]] ::testing::Environment* const kPostgresEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

absl::StatusOr<local::PostgresServer*> StartedPostgres() {
  if (PgServer() == nullptr) {
    PgDir() = std::make_unique<testing::TempDir>();
    local::PostgresOptions options;
    options.data_dir = PgDir()->path() + "/pg";
    options.port = testing::PickFreePort();
    options.unsafe_no_fsync = true;
    absl::StatusOr<std::unique_ptr<local::PostgresServer>> server =
        local::PostgresServer::Start(options);
    if (!server.ok()) return server.status();
    PgServer() = std::move(*server);
  }
  return PgServer().get();
}

// Runs SQL on the test database directly, behind the stores' backs.
void PgExec(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  } catch (const std::exception& e) {
    FAIL() << sql << ": " << e.what();
  }
}

// The URL of an empty database (the previous test's tables dropped).
absl::StatusOr<std::string> FreshPostgres() {
  absl::StatusOr<local::PostgresServer*> pg = StartedPostgres();
  if (!pg.ok()) return pg.status();
  const std::string url = (*pg)->url();
  try {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot reset the test database: ", e.what()));
  }
  return url;
}

// ---- The suite ----

enum class Backend { kSqlite, kPostgres };

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgres) {
      absl::StatusOr<std::string> url = FreshPostgres();
      ASSERT_TRUE(url.ok()) << url.status();
      url_ = *url;
    } else {
      url_ = "sqlite:" + dir_.path() + "/state.db";
    }
  }

  // Another Store object on the same database (as another server has).
  std::unique_ptr<Store> Open() {
    auto store = OpenStore(url_, clock_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static absl::StatusOr<int> SchemaVersion(Store& store) {
    if (auto* sqlite = dynamic_cast<SqliteStore*>(&store)) return sqlite->SchemaVersion();
    if (auto* postgres = dynamic_cast<PostgresStore*>(&store)) return postgres->SchemaVersion();
    return absl::InternalError("unknown store");
  }

  testing::FakeClock clock_;
  testing::TempDir dir_;
  std::string url_;
};

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "sqlite" : "postgres";
                         });

TEST_P(StoreTest, RevisionsAreNumberedPerEnvironmentAndService) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto add = [&](const std::string& env, const std::string& service) {
    auto r = store->AddRevision(MakeRevision(env, service, "v"), 10);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->number : -1;
  };
  EXPECT_EQ(add("staging", "backend"), 1);
  EXPECT_EQ(add("staging", "backend"), 2);
  EXPECT_EQ(add("staging", "frontend"), 1);
  EXPECT_EQ(add("production", "backend"), 1);
  EXPECT_EQ(add("staging", "backend"), 3);
  EXPECT_EQ(add("production", "backend"), 2);

  auto list = store->ListRevisions("staging", "backend");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_THAT(*list, SizeIs(3));
  EXPECT_EQ((*list)[0].number, 3);  // newest first
  EXPECT_EQ((*list)[2].number, 1);
  auto none = store->ListRevisions("staging", "nope");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreTest, RevisionRoundTripsEveryField) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Revision r = MakeRevision("staging", "backend", "1.4.2");
  r.env = {{"FOOHUT_FAULTS", "unready"}, {"EMPTY", ""}, {"QUOTE", "a\"b'c=d\n"}};
  r.cause = "undo to revision 3";
  r.created_at = clock_.Now() + std::chrono::milliseconds(1234);
  r.number = 99;  // ignored: the store numbers
  auto saved = store->AddRevision(r, 10);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->number, 1);
  auto got = store->GetRevision("staging", "backend", 1);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, *saved);
  EXPECT_EQ((*got)->env, r.env);
  EXPECT_EQ((*got)->created_at, r.created_at);

  auto missing = store->GetRevision("staging", "backend", 2);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_P(StoreTest, TimesAreTruncatedToMillisecondsAndZeroIsStampedWithTheClock) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Revision r = MakeRevision("staging", "backend", "1");
  r.created_at = clock_.Now() + std::chrono::microseconds(1500);
  auto saved = store->AddRevision(r, 10);
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->created_at, clock_.Now() + std::chrono::milliseconds(1));
  auto got = store->GetRevision("staging", "backend", 1);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, *saved);

  auto stamped = store->AddRevision(MakeRevision("staging", "backend", "2"), 10);
  ASSERT_TRUE(stamped.ok());
  EXPECT_EQ(stamped->created_at, clock_.Now());
}

TEST_P(StoreTest, HistoryLimitTrimsOldestButKeepsThoseOfAnUnfinishedRollout) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(store->AddRevision(MakeRevision("staging", "backend", "v"), 3).ok());
  }
  // A rollout from 1 to 2 still running: both must survive the trimming.
  auto rollout = store->CreateRollout(MakeRollout("staging", "backend", 1, 2));
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  for (int i = 4; i <= 6; ++i) {
    ASSERT_TRUE(store->AddRevision(MakeRevision("staging", "backend", "v"), 3).ok());
  }
  // Another service's history is its own.
  ASSERT_TRUE(store->AddRevision(MakeRevision("staging", "frontend", "v"), 3).ok());

  auto numbers = [&]() {
    std::vector<int> out;
    auto list = store->ListRevisions("staging", "backend");
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const Revision& r : *list) out.push_back(r.number);
    }
    return out;
  };
  EXPECT_EQ(numbers(), (std::vector<int>{6, 5, 4, 2, 1}));

  // Once it finishes, the next addition trims them; numbering goes on.
  rollout->finished_at = clock_.Now();
  rollout->phase = RolloutPhase::kSucceeded;
  ASSERT_TRUE(store->UpdateRollout(*rollout).ok());
  auto seventh = store->AddRevision(MakeRevision("staging", "backend", "v"), 3);
  ASSERT_TRUE(seventh.ok());
  EXPECT_EQ(seventh->number, 7);
  EXPECT_EQ(numbers(), (std::vector<int>{7, 6, 5}));
  auto frontend = store->ListRevisions("staging", "frontend");
  ASSERT_TRUE(frontend.ok());
  EXPECT_THAT(*frontend, SizeIs(1));
}

TEST_P(StoreTest, AddRevisionRejectsBadInput) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->AddRevision(MakeRevision("staging", "backend", "v"), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AddRevision(MakeRevision("", "backend", "v"), 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  Revision bad = MakeRevision("staging", "backend", "v");
  bad.env["X"] = "\xff\xfe";  // not UTF-8: nlohmann would throw
  auto status = store->AddRevision(bad, 10).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  auto list = store->ListRevisions("staging", "backend");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_P(StoreTest, RolloutRoundTripsEveryField) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Rollout r = MakeRollout("staging", "backend", 3, 4);
  r.strategy = spec::Strategy::kCanary;
  r.reason = "";
  r.state = {{"phase", "progressing"}, {"step", 2}, {"replicas", {"a", "b"}},
             {"nested", {{"x", 1.5}, {"ok", true}, {"none", nullptr}}}};
  r.created_at = clock_.Now();
  r.updated_at = clock_.Now() + std::chrono::seconds(5);
  auto saved = store->CreateRollout(r);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_GT(saved->id, 0);
  auto got = store->GetRollout(saved->id);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, *saved);
  EXPECT_FALSE((*got)->finished_at.has_value());
  EXPECT_EQ((*got)->state, r.state);

  Rollout done = *saved;
  done.phase = RolloutPhase::kRolledBack;
  done.reason = "replica backend-4-a failed 3 consecutive health checks";
  done.state["step"] = 3;
  clock_.Advance(std::chrono::minutes(2));
  done.updated_at = clock_.Now();
  done.finished_at = clock_.Now() + std::chrono::milliseconds(7);
  ASSERT_TRUE(store->UpdateRollout(done).ok());
  ++done.version;  // as stored now
  got = store->GetRollout(saved->id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, done);
  EXPECT_EQ((*got)->version, 2);

  auto missing = store->GetRollout(12345);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  Rollout ghost = done;
  ghost.id = 12345;
  EXPECT_EQ(store->UpdateRollout(ghost).code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, ListRolloutsNewestFirstByEnvironmentAndService) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto a = store->CreateRollout(MakeRollout("staging", "backend", 0, 1));
  auto b = store->CreateRollout(MakeRollout("staging", "frontend", 0, 1));
  auto c = store->CreateRollout(MakeRollout("production", "backend", 0, 1));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  auto all = store->ListRollouts("staging", "", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, b->id);
  EXPECT_EQ((*all)[1].id, a->id);
  auto backend = store->ListRollouts("staging", "backend", 10);
  ASSERT_TRUE(backend.ok());
  ASSERT_EQ(backend->size(), 1u);
  EXPECT_EQ((*backend)[0], *a);
  EXPECT_EQ(store->ListRollouts("staging", "", 1)->size(), 1u);
  EXPECT_TRUE(store->ListRollouts("development", "", 10)->empty());
}

TEST_P(StoreTest, OneUnfinishedRolloutPerService) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto first = store->CreateRollout(MakeRollout("staging", "backend", 0, 1));
  ASSERT_TRUE(first.ok()) << first.status();

  auto second = store->CreateRollout(MakeRollout("staging", "backend", 1, 2));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr(absl::StrCat("rollout ", first->id)));

  // Other services and environments are independent.
  EXPECT_TRUE(store->CreateRollout(MakeRollout("staging", "frontend", 0, 1)).ok());
  EXPECT_TRUE(store->CreateRollout(MakeRollout("production", "backend", 0, 1)).ok());

  Rollout finished = *first;
  finished.phase = RolloutPhase::kSucceeded;
  finished.finished_at = clock_.Now();
  ASSERT_TRUE(store->UpdateRollout(finished).ok());
  ++finished.version;
  auto third = store->CreateRollout(MakeRollout("staging", "backend", 1, 2));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_GT(third->id, first->id);

  // Un-finishing the first would make two: refused by the database.
  finished.finished_at.reset();
  EXPECT_EQ(store->UpdateRollout(finished).code(), absl::StatusCode::kFailedPrecondition);

  auto latest = store->LatestRollout("staging", "backend");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->id, third->id);
  auto none = store->LatestRollout("staging", "nope");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  // The newest rollout to a revision (export finds a run by revision).
  auto to1 = store->LatestRolloutTo("staging", "backend", 1);
  ASSERT_TRUE(to1.ok() && to1->has_value());
  EXPECT_EQ((*to1)->id, first->id);
  auto to2 = store->LatestRolloutTo("staging", "backend", 2);
  ASSERT_TRUE(to2.ok() && to2->has_value());
  EXPECT_EQ((*to2)->id, third->id);
  auto to3 = store->LatestRolloutTo("staging", "backend", 3);
  ASSERT_TRUE(to3.ok());
  EXPECT_FALSE(to3->has_value());
}

// Two writers read version 1; the second to write is refused, whole, and
// says so; it writes after reading again. No update is ever lost.
TEST_P(StoreTest, AConflictingUpdateIsRefusedNeverLost) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto created = store->CreateRollout(MakeRollout("staging", "backend", 0, 1));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->version, 1);
  Rollout a = *created, b = *created;
  a.state = {{"by", "a"}};
  b.state = {{"by", "b"}};
  ASSERT_TRUE(store->UpdateRollout(a).ok());
  absl::Status conflict = store->UpdateRollout(b);
  EXPECT_EQ(conflict.code(), absl::StatusCode::kAborted) << conflict;
  EXPECT_THAT(conflict.message(), HasSubstr("changed since it was read (version 1, stored 2)"));
  EXPECT_EQ((*store->GetRollout(created->id))->state, a.state);
  EXPECT_EQ(store->UpdateRolloutWithSamples(b, {{clock_.Now(), {{"i", 1}}}}).code(),
            absl::StatusCode::kAborted);
  EXPECT_TRUE(store->AnalysisSamples(created->id)->empty());  // all or nothing
  Rollout again = *(*store->GetRollout(created->id));
  again.state = b.state;
  ASSERT_TRUE(store->UpdateRollout(again).ok());
  EXPECT_EQ((*store->GetRollout(created->id))->state, b.state);
  EXPECT_EQ((*store->GetRollout(created->id))->version, 3);
}

TEST_P(StoreTest, LatestRolloutVersionNamesTheNewestRolloutAndItsVersion) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  using IdVersion = std::pair<int64_t, int64_t>;
  EXPECT_EQ(*store->LatestRolloutVersion("staging", "backend"), (IdVersion{0, 0}));
  auto first = store->CreateRollout(MakeRollout("staging", "backend", 0, 1));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*store->LatestRolloutVersion("staging", "backend"), (IdVersion{first->id, 1}));
  ASSERT_TRUE(store->UpdateRollout(*first).ok());
  EXPECT_EQ(*store->LatestRolloutVersion("staging", "backend"), (IdVersion{first->id, 2}));
  EXPECT_EQ(*store->LatestRolloutVersion("staging", "frontend"), (IdVersion{0, 0}));
  EXPECT_EQ(*store->LatestRolloutVersion("production", "backend"), (IdVersion{0, 0}));
}

TEST_P(StoreTest, ConcurrentCreateRolloutLetsExactlyOneWin) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::atomic<int> won{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = store->CreateRollout(MakeRollout("staging", "backend", 0, 1));
      if (r.ok()) {
        ++won;
      } else if (r.status().code() == absl::StatusCode::kFailedPrecondition) {
        ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won, 1);
  EXPECT_EQ(refused, 7);
}

TEST_P(StoreTest, UnfinishedRolloutsSurviveARestart) {
  int64_t running_id = 0;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    auto a = store->CreateRollout(MakeRollout("staging", "backend", 0, 1));
    auto b = store->CreateRollout(MakeRollout("staging", "frontend", 0, 1));
    ASSERT_TRUE(a.ok() && b.ok());
    Rollout done = *b;
    done.finished_at = clock_.Now();
    done.phase = RolloutPhase::kSucceeded;
    ASSERT_TRUE(store->UpdateRollout(done).ok());
    Rollout progressed = *a;
    progressed.state = {{"step", 2}};
    ASSERT_TRUE(store->UpdateRollout(progressed).ok());
    running_id = a->id;
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto unfinished = store->UnfinishedRollouts();
  ASSERT_TRUE(unfinished.ok()) << unfinished.status();
  ASSERT_THAT(*unfinished, SizeIs(1));
  EXPECT_EQ((*unfinished)[0].id, running_id);
  EXPECT_EQ((*unfinished)[0].state, nlohmann::json({{"step", 2}}));
  auto version = SchemaVersion(*store);
  ASSERT_TRUE(version.ok());
  EXPECT_GE(*version, 1);
}

TEST_P(StoreTest, EventsHaveIncreasingIdsAndFilter) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<int64_t> ids;
  const std::vector<std::pair<std::string, std::string>> targets = {
      {"staging", "backend"}, {"staging", "frontend"}, {"production", "backend"},
      {"staging", "backend"}, {"staging", "backend"}};
  for (const auto& [env, service] : targets) {
    Event e = MakeEvent(env, service, "replica.ready");
    e.rollout_id = 7;
    e.data = {{"replica", service + "-1"}, {"ready", 2}};
    e.at = clock_.Now();
    clock_.Advance(std::chrono::seconds(1));
    auto saved = store->AppendEvent(e);
    ASSERT_TRUE(saved.ok()) << saved.status();
    if (!ids.empty()) {
      EXPECT_GT(saved->id, ids.back());
    }
    ids.push_back(saved->id);
  }
  auto all = store->EventsAfter(0, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_THAT(*all, SizeIs(5));
  EXPECT_EQ((*all)[1].service, "frontend");
  EXPECT_EQ((*all)[1].data, nlohmann::json({{"replica", "frontend-1"}, {"ready", 2}}));
  EXPECT_EQ((*all)[1].rollout_id, 7);
  EXPECT_EQ((*all)[1].at, clock_.Now() - std::chrono::seconds(4));

  auto after = store->EventsAfter(ids[1], 100);
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(*after, SizeIs(3));
  EXPECT_EQ((*after)[0].id, ids[2]);

  auto limited = store->EventsAfter(0, 2);
  ASSERT_TRUE(limited.ok());
  ASSERT_THAT(*limited, SizeIs(2));
  EXPECT_EQ((*limited)[1].id, ids[1]);

  auto staging = store->EventsAfter(0, 100, "staging");
  ASSERT_TRUE(staging.ok());
  EXPECT_THAT(*staging, SizeIs(4));
  auto backend = store->EventsAfter(0, 100, "", "backend");
  ASSERT_TRUE(backend.ok());
  EXPECT_THAT(*backend, SizeIs(4));
  auto staging_backend = store->EventsAfter(ids[0], 1, "staging", "backend");
  ASSERT_TRUE(staging_backend.ok());
  ASSERT_THAT(*staging_backend, SizeIs(1));
  EXPECT_EQ((*staging_backend)[0].id, ids[3]);

  EXPECT_EQ(store->EventsAfter(0, 0).status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(*store->LastEventId("", ""), ids[4]);
  EXPECT_EQ(*store->LastEventId("staging", "frontend"), ids[1]);
  EXPECT_EQ(*store->LastEventId("production", ""), ids[2]);
  EXPECT_EQ(*store->LastEventId("", "payments"), 0);
}

TEST_P(StoreTest, RolloutAndItsSamplesAreSavedAllOrNothing) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto rollout = store->CreateRollout(MakeRollout("staging", "backend", 1, 2));
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  ASSERT_TRUE(store->AppendAnalysisSample(rollout->id, clock_.Now(), {{"i", 0}}).ok());
  Rollout updated = *rollout;
  updated.phase = RolloutPhase::kAnalysing;
  updated.state = {{"step", 1}};
  ASSERT_TRUE(store
                  ->UpdateRolloutWithSamples(updated, {{clock_.Now(), {{"i", 1}}},
                                                       {clock_.Now(), {{"i", 2}}}})
                  .ok());
  EXPECT_EQ((*store->GetRollout(rollout->id))->phase, RolloutPhase::kAnalysing);
  auto samples = store->AnalysisSamples(rollout->id);
  ASSERT_THAT(*samples, SizeIs(3));
  EXPECT_EQ((*samples)[2].data["i"], 2);

  // An update that fails (no such rollout) saves none of its samples.
  Rollout missing = updated;
  missing.id = rollout->id + 100;
  EXPECT_EQ(store->UpdateRolloutWithSamples(missing, {{clock_.Now(), {{"i", 3}}}}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(*store->AnalysisSamples(missing.id), SizeIs(0));
}

TEST_P(StoreTest, AnalysisSamplesComeBackInOrderPerRollout) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store->AppendAnalysisSample(7, clock_.Now(), {{"i", i}, {"canary", {{"5xx", i}}}})
                    .ok());
    ASSERT_TRUE(store->AppendAnalysisSample(8, clock_.Now(), {{"other", i}}).ok());
    clock_.Advance(std::chrono::seconds(1));
  }
  auto samples = store->AnalysisSamples(7);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*samples)[i].data["i"], i);
    EXPECT_EQ((*samples)[i].at, clock_.Now() - std::chrono::seconds(3 - i));
  }
  EXPECT_TRUE(store->AnalysisSamples(99)->empty());
}

TEST_P(StoreTest, ConcurrentWritersLoseAndDuplicateNothing) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  // A second connection to the same file, as another process would have.
  auto other = Open();
  ASSERT_NE(other, nullptr);
  constexpr int kThreads = 6;
  constexpr int kEach = 25;
  std::vector<std::vector<int64_t>> event_ids(kThreads);
  std::vector<std::vector<int>> numbers(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& s = t % 2 == 0 ? *store : *other;
      for (int i = 0; i < kEach; ++i) {
        auto e = s.AppendEvent(MakeEvent("staging", "backend", "test"));
        auto r = s.AddRevision(MakeRevision("staging", "backend", "v"), 1000);
        if (!e.ok() || !r.ok()) {
          ++failures;
          continue;
        }
        event_ids[t].push_back(e->id);
        numbers[t].push_back(r->number);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  std::set<int64_t> all_ids;
  std::set<int> all_numbers;
  for (int t = 0; t < kThreads; ++t) {
    // Each thread sees its own ids increase.
    EXPECT_TRUE(std::is_sorted(event_ids[t].begin(), event_ids[t].end()));
    all_ids.insert(event_ids[t].begin(), event_ids[t].end());
    all_numbers.insert(numbers[t].begin(), numbers[t].end());
  }
  EXPECT_THAT(all_ids, SizeIs(kThreads * kEach));
  ASSERT_THAT(all_numbers, SizeIs(kThreads * kEach));
  EXPECT_EQ(*all_numbers.begin(), 1);
  EXPECT_EQ(*all_numbers.rbegin(), kThreads * kEach);
  auto events = store->EventsAfter(0, 1000);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(*events, SizeIs(kThreads * kEach));
}

// ---- Events written with the state they describe ----

TEST_P(StoreTest, EventsAreSavedWithTheRolloutTheyDescribe) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Event started = MakeEvent("", "", "rollout.started");  // completed from the rollout
  started.data = {{"to_revision", 1}};
  Event other = MakeEvent("staging", "frontend", "note");
  other.rollout_id = 42;  // kept as given
  auto created = store->CreateRolloutWithEvents(MakeRollout("staging", "backend", 0, 1),
                                                {started, other});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->rollout.version, 1);
  EXPECT_EQ(*store->GetRollout(created->rollout.id), created->rollout);
  ASSERT_THAT(created->events, SizeIs(2));
  EXPECT_EQ(created->events[0].rollout_id, created->rollout.id);
  EXPECT_EQ(created->events[0].environment, "staging");
  EXPECT_EQ(created->events[0].service, "backend");
  EXPECT_EQ(created->events[0].at, clock_.Now());
  EXPECT_EQ(created->events[1].rollout_id, 42);
  EXPECT_EQ(created->events[1].service, "frontend");
  EXPECT_GT(created->events[1].id, created->events[0].id);
  EXPECT_EQ(*store->EventsAfter(0, 10), created->events);

  Rollout rollout = created->rollout;
  rollout.phase = RolloutPhase::kAnalysing;
  rollout.state = {{"step", 1}};
  clock_.Advance(std::chrono::seconds(3));
  auto events = store->UpdateRolloutWithEvents(
      rollout, {{clock_.Now(), {{"i", 1}}}},
      {MakeEvent("", "", "analysis.passed"), MakeEvent("", "", "step.done")});
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_THAT(*events, SizeIs(2));
  EXPECT_EQ((*events)[0].rollout_id, rollout.id);
  EXPECT_EQ((*events)[0].at, clock_.Now());
  EXPECT_GT((*events)[0].id, created->events[1].id);
  EXPECT_EQ(*store->EventsAfter(created->events[1].id, 10), *events);
  auto saved = *store->GetRollout(rollout.id);
  EXPECT_EQ(saved->phase, RolloutPhase::kAnalysing);
  EXPECT_EQ(saved->version, 2);
  EXPECT_THAT(*store->AnalysisSamples(rollout.id), SizeIs(1));

  // Without events they are the plain writes.
  ++rollout.version;
  auto none = store->UpdateRolloutWithEvents(rollout, {}, {});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  EXPECT_EQ((*store->GetRollout(rollout.id))->version, 3);
}

// A refused rollout, a version conflict or an event that cannot be encoded
// writes nothing at all: no rollout, no sample, no event.
TEST_P(StoreTest, ARefusedWriteSavesNoneOfItsEvents) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto first = store->CreateRolloutWithEvents(MakeRollout("staging", "backend", 0, 1),
                                              {MakeEvent("", "", "rollout.started")});
  ASSERT_TRUE(first.ok()) << first.status();
  const int64_t last = *store->LastEventId();

  auto second = store->CreateRolloutWithEvents(MakeRollout("staging", "backend", 1, 2),
                                               {MakeEvent("", "", "rollout.started")});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_THAT(second.status().message(), HasSubstr(absl::StrCat("rollout ", first->rollout.id)));
  EXPECT_EQ(*store->LastEventId(), last);

  // Two writers read version 1; the second's events are refused with its update.
  Rollout a = first->rollout, b = first->rollout;
  a.phase = RolloutPhase::kAnalysing;
  b.phase = RolloutPhase::kPaused;
  auto a_events = store->UpdateRolloutWithEvents(a, {{clock_.Now(), {{"by", "a"}}}},
                                                 {MakeEvent("", "", "by.a")});
  ASSERT_TRUE(a_events.ok()) << a_events.status();
  auto conflict = store->UpdateRolloutWithEvents(b, {{clock_.Now(), {{"by", "b"}}}},
                                                 {MakeEvent("", "", "by.b")});
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted) << conflict.status();
  EXPECT_THAT(conflict.status().message(), HasSubstr("(version 1, stored 2)"));
  auto events = store->EventsAfter(0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_THAT(*events, SizeIs(2));
  EXPECT_EQ((*events)[1].type, "by.a");
  auto samples = store->AnalysisSamples(a.id);
  ASSERT_THAT(*samples, SizeIs(1));
  EXPECT_EQ((*samples)[0].data["by"], "a");
  EXPECT_EQ((*store->GetRollout(a.id))->phase, store::RolloutPhase::kAnalysing);

  // An unknown rollout: NotFound, nothing written.
  Rollout ghost = a;
  ghost.id += 1000;
  EXPECT_EQ(store->UpdateRolloutWithEvents(ghost, {}, {MakeEvent("", "", "x")}).status().code(),
            absl::StatusCode::kNotFound);

  // An event that cannot be encoded stops the whole write.
  Rollout again = **store->GetRollout(a.id);
  Event bad = MakeEvent("", "", "bad");
  bad.data = {{"x", "\xff\xfe"}};
  EXPECT_EQ(store->UpdateRolloutWithEvents(again, {}, {bad}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store->GetRollout(a.id))->version, again.version);
  EXPECT_EQ(*store->LastEventId(), (*events)[1].id);
}

// ---- Event ids in commit order ----

// Writers on two Store objects append events (alone, and several at a time
// with a rollout update) while a reader follows with EventsAfter(last seen),
// as the SSE stream does. If an id could commit after a higher one was
// visible, the reader would pass it by and never see it.
TEST_P(StoreTest, AFollowerNeverSkipsAnEvent) {
  auto store = Open();
  auto other = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_NE(other, nullptr);
  constexpr int kWriters = 4;
  constexpr int kEach = 30;
  std::vector<std::vector<int64_t>> written(kWriters);
  std::atomic<int> failures{0};
  std::atomic<bool> done{false};
  std::vector<int64_t> seen;
  std::thread reader([&] {
    int64_t last = 0;
    for (bool final_pass = false;; final_pass = done.load()) {
      auto events = store->EventsAfter(last, 1000);
      if (!events.ok()) {
        ++failures;
        return;
      }
      for (const Event& e : *events) {
        seen.push_back(e.id);
        last = e.id;
      }
      if (final_pass && events->empty()) return;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      Store& s = w % 2 == 0 ? *store : *other;
      const std::string service = absl::StrCat("service-", w);
      auto created = s.CreateRolloutWithEvents(MakeRollout("staging", service, 0, 1),
                                               {MakeEvent("", "", "rollout.started")});
      if (!created.ok()) {
        ++failures;
        return;
      }
      written[w].push_back(created->events[0].id);
      Rollout rollout = created->rollout;
      for (int i = 0; i < kEach; ++i) {
        auto e = s.AppendEvent(MakeEvent("staging", service, "tick"));
        rollout.state = {{"i", i}};
        auto update = s.UpdateRolloutWithEvents(
            rollout, {}, {MakeEvent("", "", "step"), MakeEvent("", "", "step.done")});
        if (!e.ok() || !update.ok()) {
          ++failures;
          continue;
        }
        ++rollout.version;
        written[w].push_back(e->id);
        for (const Event& u : *update) written[w].push_back(u.id);
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures, 0);
  std::set<int64_t> all;
  for (const auto& ids : written) {
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_THAT(all, SizeIs(kWriters * (1 + 3 * kEach)));
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  // Every event was seen by the follower: none was skipped.
  std::vector<int64_t> skipped;
  std::set_difference(all.begin(), all.end(), seen.begin(), seen.end(),
                      std::back_inserter(skipped));
  EXPECT_TRUE(skipped.empty()) << "the follower skipped " << skipped.size()
                               << " events, the first " << skipped.front();
  EXPECT_EQ(seen.size(), all.size());
}

// ---- Leases ----

TEST_P(StoreTest, LeaseIsTakenRenewedExpiresAndChangesHandsWithANewToken) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const Duration ttl = std::chrono::seconds(10);
  EXPECT_FALSE(store->GetLease("controller")->has_value());

  auto a = store->AcquireLease("controller", "server-a", ttl, clock_.Now());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, (Lease{"controller", "server-a", 1, clock_.Now() + ttl}));
  EXPECT_EQ(*store->GetLease("controller"), *a);

  // Renewed by its holder: a later expiry, the same token.
  clock_.Advance(std::chrono::seconds(4));
  auto renewed = store->AcquireLease("controller", "server-a", ttl, clock_.Now());
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(renewed->token, 1);
  EXPECT_EQ(renewed->expires_at, clock_.Now() + ttl);

  // Someone else is refused while it runs, and told who holds it until when.
  auto refused = store->AcquireLease("controller", "server-b", ttl, clock_.Now());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("held by server-a until 2026-01-01T00:00:14.000Z (token 1)"));
  // Another lease is independent.
  auto other = store->AcquireLease("janitor", "server-b", ttl, clock_.Now());
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->token, 1);

  // Expired: taken over with the next token.
  clock_.Advance(ttl);
  auto b = store->AcquireLease("controller", "server-b", ttl, clock_.Now());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->token, 2);
  EXPECT_EQ(b->holder, "server-b");
  auto late = store->AcquireLease("controller", "server-a", ttl, clock_.Now());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);

  // A release by a former holder, or with an old token, does nothing.
  EXPECT_TRUE(store->ReleaseLease("controller", "server-a", 1).ok());
  EXPECT_TRUE(store->ReleaseLease("controller", "server-b", 1).ok());
  EXPECT_EQ(*store->GetLease("controller"), *b);
  // Released: free at once; the next holder, even the same one, gets a new token.
  ASSERT_TRUE(store->ReleaseLease("controller", "server-b", 2).ok());
  EXPECT_EQ((*store->GetLease("controller"))->holder, "");
  auto c = store->AcquireLease("controller", "server-b", ttl, clock_.Now());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->token, 3);

  // The lease is in the database: another Store object sees it.
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(*reopened->GetLease("controller"), *c);

  EXPECT_EQ(store->AcquireLease("", "a", ttl, clock_.Now()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AcquireLease("controller", "", ttl, clock_.Now()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AcquireLease("x", "a", Duration(0), clock_.Now()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(store->GetLease("x")->has_value());
}

TEST_P(StoreTest, ConcurrentAcquirersOfAFreeLeaseLetExactlyOneWin) {
  auto store = Open();
  auto other = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_NE(other, nullptr);
  std::atomic<int> won{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Store& s = i % 2 == 0 ? *store : *other;
      auto lease = s.AcquireLease("controller", absl::StrCat("server-", i),
                                  std::chrono::seconds(10), clock_.Now());
      if (lease.ok()) {
        EXPECT_EQ(lease->token, 1);
        ++won;
      } else if (lease.status().code() == absl::StatusCode::kFailedPrecondition) {
        ++refused;
      } else {
        ADD_FAILURE() << lease.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won, 1);
  EXPECT_EQ(refused, 7);
}

// A controller that lost its lease (it paused past the ttl, say) and comes
// back writes nothing: every write checks the token in its own transaction.
TEST_P(StoreTest, FencingRejectsEveryWriteOfAStaleHolder) {
  auto old_store = Open();
  auto new_store = Open();
  ASSERT_NE(old_store, nullptr);
  ASSERT_NE(new_store, nullptr);
  const Duration ttl = std::chrono::seconds(10);
  auto old_lease = old_store->AcquireLease("controller", "server-a", ttl, clock_.Now());
  ASSERT_TRUE(old_lease.ok()) << old_lease.status();
  old_store->Fence("controller", old_lease->token);
  // While it holds the lease (and after it expired, while no one took it), it writes.
  auto rollout = old_store->CreateRollout(MakeRollout("staging", "backend", 0, 1));
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  clock_.Advance(ttl + std::chrono::seconds(1));
  ASSERT_TRUE(old_store->AppendEvent(MakeEvent("staging", "backend", "late")).ok());

  auto new_lease = new_store->AcquireLease("controller", "server-b", ttl, clock_.Now());
  ASSERT_TRUE(new_lease.ok()) << new_lease.status();
  EXPECT_EQ(new_lease->token, 2);
  new_store->Fence("controller", new_lease->token);

  const int64_t last_event = *old_store->LastEventId();
  auto expect_fenced = [&](const absl::Status& status, const std::string& what) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << what << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr("fenced: server-b now holds the lease controller"))
        << what;
  };
  expect_fenced(old_store->AppendEvent(MakeEvent("staging", "backend", "x")).status(), "event");
  expect_fenced(old_store->AddRevision(MakeRevision("staging", "backend", "v"), 10).status(),
                "revision");
  expect_fenced(old_store->CreateRollout(MakeRollout("staging", "frontend", 0, 1)).status(),
                "create");
  expect_fenced(old_store
                    ->CreateRolloutWithEvents(MakeRollout("staging", "frontend", 0, 1),
                                              {MakeEvent("", "", "rollout.started")})
                    .status(),
                "create with events");
  Rollout update = *rollout;
  update.phase = RolloutPhase::kFailed;
  expect_fenced(old_store->UpdateRollout(update), "update");
  expect_fenced(old_store->UpdateRolloutWithSamples(update, {{clock_.Now(), {{"i", 1}}}}),
                "update with samples");
  expect_fenced(
      old_store->UpdateRolloutWithEvents(update, {}, {MakeEvent("", "", "x")}).status(),
      "update with events");
  expect_fenced(old_store->AppendAnalysisSample(rollout->id, clock_.Now(), {{"i", 2}}),
                "sample");

  // Nothing of it was written; reads still work.
  EXPECT_EQ(*old_store->LastEventId(), last_event);
  EXPECT_TRUE(old_store->ListRevisions("staging", "backend")->empty());
  EXPECT_FALSE(old_store->LatestRollout("staging", "frontend")->has_value());
  EXPECT_EQ(**old_store->GetRollout(rollout->id), *rollout);
  EXPECT_TRUE(old_store->AnalysisSamples(rollout->id)->empty());

  // The new holder writes.
  EXPECT_TRUE(new_store->UpdateRollout(update).ok());
  EXPECT_TRUE(new_store->AppendEvent(MakeEvent("staging", "backend", "y")).ok());

  // A fence on a lease that does not exist admits nothing.
  old_store->Fence("no-such-lease", 1);
  auto status = old_store->AppendEvent(MakeEvent("staging", "backend", "z")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("fenced: lease no-such-lease does not exist"));
}

// ---- Alerts and the outbox ----

Alert MakeAlert(const std::string& env, const std::string& fingerprint) {
  Alert a;
  a.environment = env;
  a.fingerprint = fingerprint;
  a.name = "HighErrorRate";
  a.severity = "critical";
  a.service = "backend";
  a.labels = {{"alertname", "HighErrorRate"}, {"service", "backend"}};
  a.annotations = {{"summary", "21% of requests fail"}};
  a.starts_at = TimePoint(std::chrono::milliseconds(1'796'000'000'123));
  return a;
}

Notification MakeNotification(const std::string& key, const std::string& channel = "pagerduty") {
  Notification n;
  n.key = key;
  n.channel = channel;
  n.message = {{"event_action", "trigger"}, {"dedup_key", key}};
  return n;
}

TEST_P(StoreTest, AlertRoundTripsEveryFieldAndUpdatesAreVersionChecked) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Alert a = MakeAlert("production", "fp1");
  a.deadline = clock_.Now() + std::chrono::minutes(5);
  auto created = store->SaveAlert(a, {}, {});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_GT(created->id, 0);
  EXPECT_EQ(created->version, 1);
  EXPECT_EQ(created->received_at, TruncateToMillis(clock_.Now()));
  EXPECT_EQ(created->updated_at, created->received_at);
  EXPECT_EQ(**store->GetAlert(created->id), *created);
  EXPECT_EQ(**store->OpenAlert("production", "fp1"), *created);
  EXPECT_FALSE(store->OpenAlert("staging", "fp1")->has_value());

  Alert acked = *created;
  acked.state = AlertState::kAcked;
  acked.acked_at = clock_.Now();
  acked.acked_by = "ada";
  acked.deadline.reset();
  acked.escalations = 2;
  acked.updated_at = clock_.Now() + std::chrono::seconds(1);
  auto saved = store->SaveAlert(acked, {}, {});
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->version, 2);
  EXPECT_EQ(**store->GetAlert(created->id), *saved);

  // A writer that read version 1 loses, and writes nothing.
  Alert stale = *created;
  stale.state = AlertState::kResolved;
  auto refused = store->SaveAlert(stale, {MakeNotification("k-stale")},
                                  {MakeEvent("", "", "alert.resolved")});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAborted) << refused.status();
  EXPECT_EQ(**store->GetAlert(created->id), *saved);
  EXPECT_TRUE(store->PendingNotifications("production", 10)->empty());
  EXPECT_EQ(*store->LastEventId(), 0);
  Alert unknown = MakeAlert("production", "fp-unknown");
  unknown.id = 999;
  unknown.version = 1;
  EXPECT_EQ(store->SaveAlert(unknown, {}, {}).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, OneOpenAlertPerFingerprintAndAResolvedOneMayFireAgain) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto first = store->SaveAlert(MakeAlert("production", "fp1"), {}, {});
  ASSERT_TRUE(first.ok()) << first.status();
  auto twice = store->SaveAlert(MakeAlert("production", "fp1"), {}, {});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kAlreadyExists) << twice.status();
  ASSERT_TRUE(store->SaveAlert(MakeAlert("staging", "fp1"), {}, {}).ok());  // another env

  Alert resolved = *first;
  resolved.state = AlertState::kResolved;
  resolved.resolved_at = clock_.Now();
  ASSERT_TRUE(store->SaveAlert(resolved, {}, {}).ok());
  EXPECT_FALSE(store->OpenAlert("production", "fp1")->has_value());
  clock_.Advance(std::chrono::minutes(1));
  auto again = store->SaveAlert(MakeAlert("production", "fp1"), {}, {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_GT(again->id, first->id);

  auto all = store->ListAlerts({.environment = "production", .state = std::nullopt,
                                .received_since = std::nullopt, .limit = 10});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, again->id);  // newest first
  auto firing = store->ListAlerts({.environment = "production", .state = AlertState::kFiring,
                                   .received_since = std::nullopt, .limit = 10});
  ASSERT_EQ(firing->size(), 1u);
  EXPECT_EQ((*firing)[0].id, again->id);
  auto recent = store->ListAlerts({.environment = "production", .state = std::nullopt,
                                   .received_since = again->received_at, .limit = 10});
  ASSERT_EQ(recent->size(), 1u);
  EXPECT_EQ(store->ListAlerts({.environment = "production", .state = std::nullopt,
                               .received_since = std::nullopt, .limit = 0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, AnAlertItsNotificationsAndEventsAreSavedTogether) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Event e = MakeEvent("", "", "alert.firing");
  auto saved = store->SaveAlert(MakeAlert("production", "fp1"),
                                {MakeNotification("fp1/trigger"),
                                 MakeNotification("fp1/slack", "slack")},
                                {e});
  ASSERT_TRUE(saved.ok()) << saved.status();
  auto pending = store->PendingNotifications("production", 10);
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].key, "fp1/trigger");
  EXPECT_EQ((*pending)[0].alert_id, saved->id);
  EXPECT_EQ((*pending)[0].environment, "production");
  EXPECT_EQ((*pending)[0].created_at, TruncateToMillis(clock_.Now()));
  EXPECT_EQ((*pending)[0].next_attempt_at, (*pending)[0].created_at);
  EXPECT_EQ((*pending)[1].channel, "slack");
  EXPECT_LT((*pending)[0].id, (*pending)[1].id);
  auto events = store->EventsAfter(0, 10);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].environment, "production");
  EXPECT_EQ((*events)[0].service, "backend");
  EXPECT_EQ((*events)[0].data["alert_id"], saved->id);

  // The same message queued again (a repeat, a restart) is not queued twice.
  Alert update = *saved;
  update.escalations = 1;
  ASSERT_TRUE(store->SaveAlert(update, {MakeNotification("fp1/trigger"),
                                        MakeNotification("fp1/escalation-1")}, {}).ok());
  pending = store->PendingNotifications("production", 10);
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[2].key, "fp1/escalation-1");
  EXPECT_TRUE(store->PendingNotifications("staging", 10)->empty());

  // A notification without a channel refuses the whole write.
  Notification bad = MakeNotification("fp1/bad");
  bad.channel.clear();
  Alert next = **store->GetAlert(saved->id);
  next.escalations = 2;
  auto refused = store->SaveAlert(next, {bad}, {MakeEvent("", "", "alert.escalated")});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_EQ((*store->GetAlert(saved->id))->escalations, 1);
  EXPECT_EQ(store->EventsAfter(0, 10)->size(), 1u);
}

TEST_P(StoreTest, TheOutboxKeepsAttemptsAndDropsWhatWasDeliveredOrRefused) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<Notification> queued;
  for (int i = 0; i < 3; ++i) {
    Notification n = MakeNotification("digest/" + std::to_string(i), "slack");
    n.environment = "production";
    n.message = {{"text", "digest " + std::to_string(i)}};
    queued.push_back(n);
  }
  auto added = store->QueueNotifications(queued, {MakeEvent("production", "", "alert.digest")});
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 3);
  EXPECT_EQ(*store->QueueNotifications({queued[1]}, {}), 0);  // the key is queued already
  Notification no_env = MakeNotification("x");
  EXPECT_EQ(store->QueueNotifications({no_env}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto pending = *store->PendingNotifications("production", 10);
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].alert_id, 0);
  Notification retry = pending[0];
  retry.attempts = 1;
  retry.last_error = "503 Service Unavailable";
  retry.next_attempt_at = clock_.Now() + std::chrono::seconds(2);
  ASSERT_TRUE(store->UpdateNotification(retry).ok());
  Notification delivered = pending[1];
  delivered.attempts = 1;
  delivered.delivered_at = clock_.Now();
  ASSERT_TRUE(store->UpdateNotification(delivered).ok());
  Notification refused = pending[2];
  refused.attempts = 1;
  refused.failed = true;
  refused.last_error = "400 Bad Request";
  ASSERT_TRUE(store->UpdateNotification(refused).ok());

  // Another server (a restart) sees the same outbox.
  auto other = Open();
  ASSERT_NE(other, nullptr);
  auto left = *other->PendingNotifications("production", 10);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0], retry);
  EXPECT_EQ(other->PendingNotifications("production", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  Notification unknown = retry;
  unknown.id = 12345;
  EXPECT_EQ(other->UpdateNotification(unknown).code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, AlertWritesAreFenced) {
  auto old_store = Open();
  auto new_store = Open();
  ASSERT_NE(old_store, nullptr);
  ASSERT_NE(new_store, nullptr);
  const Duration ttl = std::chrono::seconds(10);
  auto old_lease = old_store->AcquireLease("controller", "server-a", ttl, clock_.Now());
  ASSERT_TRUE(old_lease.ok());
  old_store->Fence("controller", old_lease->token);
  auto alert = old_store->SaveAlert(MakeAlert("production", "fp1"), {MakeNotification("k1")}, {});
  ASSERT_TRUE(alert.ok()) << alert.status();
  clock_.Advance(ttl + std::chrono::seconds(1));
  ASSERT_TRUE(new_store->AcquireLease("controller", "server-b", ttl, clock_.Now()).ok());

  const auto fenced = [](const absl::Status& s) {
    return s.code() == absl::StatusCode::kFailedPrecondition &&
           absl::StrContains(s.message(), "fenced");
  };
  EXPECT_TRUE(fenced(old_store->SaveAlert(MakeAlert("production", "fp2"), {}, {}).status()));
  Notification digest = MakeNotification("k2");
  digest.environment = "production";
  EXPECT_TRUE(fenced(old_store->QueueNotifications({digest}, {}).status())) << "queue";
  Notification n = (*old_store->PendingNotifications("production", 10))[0];
  n.delivered_at = clock_.Now();
  EXPECT_TRUE(fenced(old_store->UpdateNotification(n)));
  EXPECT_EQ(old_store->PendingNotifications("production", 10)->size(), 1u);
}

// ---- OpenStore ----

TEST(OpenStoreTest, PicksTheStoreByUrl) {
  EXPECT_EQ(*StoreKindOf("postgresql://hut@db:5432/hut"), StoreKind::kPostgres);
  EXPECT_EQ(*StoreKindOf("postgres://db/hut"), StoreKind::kPostgres);
  EXPECT_EQ(*StoreKindOf("sqlite:/var/lib/hut/state.db"), StoreKind::kSqlite);
  EXPECT_EQ(*StoreKindOf("/var/lib/hut/state.db"), StoreKind::kSqlite);
  EXPECT_EQ(*StoreKindOf("state.db"), StoreKind::kSqlite);
  EXPECT_EQ(StoreKindOf("").status().code(), absl::StatusCode::kInvalidArgument);
  auto unknown = StoreKindOf("mysql://db/hut");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("mysql://"));

  testing::FakeClock clock;
  testing::TempDir dir;
  auto sqlite = OpenStore("sqlite:" + dir.path() + "/a.db", clock);
  ASSERT_TRUE(sqlite.ok()) << sqlite.status();
  EXPECT_NE(dynamic_cast<SqliteStore*>(sqlite->get()), nullptr);
  auto plain = OpenStore(dir.path() + "/b.db", clock);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_NE(dynamic_cast<SqliteStore*>(plain->get()), nullptr);
}

TEST(OpenStoreTest, DescribesAPostgresUrlWithoutItsPassword) {
  EXPECT_EQ(DescribePostgresUrl("postgresql://hut:s3cret@db.example:6432/state?sslmode=require"),  // pragma: allowlist secret (test URL)
            "db.example:6432/state");
  EXPECT_EQ(DescribePostgresUrl("postgres://hut@db/state"), "db:5432/state");
  EXPECT_EQ(DescribePostgresUrl("postgresql:///state?host=/run/pg&port=5433"),
            "/run/pg:5433/state");
  EXPECT_EQ(DescribePostgresUrl("sqlite:x"), "");
}

// ---- PostgreSQL only ----

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> url = FreshPostgres();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
  }
  testing::FakeClock clock_;
  std::string url_;
};

TEST_F(PostgresStoreTest, OpensThroughOpenStoreAndMigratesOnce) {
  // Servers starting together: each migrates or finds it done.
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto store = OpenStore(url_, clock_);
      if (store.ok() && dynamic_cast<PostgresStore*>(store->get()) != nullptr) {
        ++opened;
      } else {
        ADD_FAILURE() << store.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(opened, 4);
  auto store = PostgresStore::Open(url_, clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->SchemaVersion(), 2);
}

TEST_F(PostgresStoreTest, NewerSchemaIsRefused) {
  ASSERT_TRUE(PostgresStore::Open(url_, clock_).ok());
  PgExec(url_, "INSERT INTO schema_version (version, applied_at) VALUES (999, 0)");
  auto store = PostgresStore::Open(url_, clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 999"));
}

TEST_F(PostgresStoreTest, CorruptJsonIsAClearErrorStatus) {
  auto store = PostgresStore::Open(url_, clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto r = (*store)->CreateRollout(MakeRollout("staging", "backend", 0, 1));
  ASSERT_TRUE(r.ok()) << r.status();
  PgExec(url_, "UPDATE rollouts SET state = '{not json'");
  auto rollout = (*store)->GetRollout(r->id);
  EXPECT_EQ(rollout.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(rollout.status().message(), HasSubstr(absl::StrCat("state of rollout ", r->id)));
}

TEST_F(PostgresStoreTest, UnreachableServerIsUnavailableNamingHostAndPortNotThePassword) {
  const uint16_t port = testing::PickFreePort();
  auto store =
      PostgresStore::Open(absl::StrCat("postgresql://hut:s3cret@127.0.0.1:", port, "/hut"),
                          clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(absl::StrCat("127.0.0.1:", port, "/hut")));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("s3cret")));
}

TEST_F(PostgresStoreTest, WrongPasswordIsPermissionDeniedWithoutThePassword) {
  auto pg = StartedPostgres();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto store = PostgresStore::Open(
      absl::StrCat("postgresql://foohut:wr0ng-guess@127.0.0.1:", (*pg)->port(), "/foohut"),
      clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kPermissionDenied) << store.status();
  EXPECT_THAT(store.status().message(), Not(HasSubstr("wr0ng-guess")));
}

// A server that goes away: calls fail with Unavailable, and the store
// recovers by itself once it is back.
TEST_F(PostgresStoreTest, RecoversWhenTheServerComesBack) {
  auto store = PostgresStore::Open(url_, clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->AppendEvent(MakeEvent("staging", "backend", "before")).ok());
  auto pg = StartedPostgres();
  ASSERT_TRUE(pg.ok());
  (*pg)->Stop();
  auto down = (*store)->AppendEvent(MakeEvent("staging", "backend", "during"));
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  ASSERT_TRUE((*pg)->Restart().ok());
  // The pooled connection was dropped as broken; a new one is opened.
  absl::StatusOr<Event> after = absl::UnknownError("not tried");
  for (int i = 0; i < 3 && !after.ok(); ++i) {
    after = (*store)->AppendEvent(MakeEvent("staging", "backend", "after"));
  }
  ASSERT_TRUE(after.ok()) << after.status();
  auto events = (*store)->EventsAfter(0, 10);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_THAT(*events, SizeIs(2));
  EXPECT_EQ((*events)[1].type, "after");
}

}  // namespace
}  // namespace hut::store
