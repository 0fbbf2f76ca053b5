#include "src/store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_clock.h"
#include "testing/test_env.h"

namespace hut::store {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

Revision MakeRevision(const std::string& env, const std::string& service,
                      const std::string& version) {
  Revision r;
  r.environment = env;
  r.service = service;
  r.version = version;
  r.cause = "deploy";
  return r;
}

Rollout MakeRollout(const std::string& env, const std::string& service, int from, int to) {
  Rollout r;
  r.environment = env;
  r.service = service;
  r.from_revision = from;
  r.to_revision = to;
  r.strategy = "rolling";
  r.phase = "progressing";
  return r;
}

Event MakeEvent(const std::string& env, const std::string& service, const std::string& type) {
  Event e;
  e.environment = env;
  e.service = service;
  e.type = type;
  e.message = "something happened";
  return e;
}

// Runs one SQL statement on the file directly, behind the store's back.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> OpenFile() {
    auto store = SqliteStore::Open(path_, clock_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  testing::FakeClock clock_;
  testing::TempDir dir_;
  std::string path_ = dir_.path() + "/state.db";
};

TEST_F(SqliteStoreTest, RevisionsAreNumberedPerEnvironmentAndService) {
  auto store = OpenFile();
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

TEST_F(SqliteStoreTest, RevisionRoundTripsEveryField) {
  auto store = OpenFile();
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

TEST_F(SqliteStoreTest, TimesAreTruncatedToMillisecondsAndZeroIsStampedWithTheClock) {
  auto store = OpenFile();
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

TEST_F(SqliteStoreTest, HistoryLimitTrimsOldestButKeepsThoseOfAnUnfinishedRollout) {
  auto store = OpenFile();
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
  rollout->phase = "succeeded";
  ASSERT_TRUE(store->UpdateRollout(*rollout).ok());
  auto seventh = store->AddRevision(MakeRevision("staging", "backend", "v"), 3);
  ASSERT_TRUE(seventh.ok());
  EXPECT_EQ(seventh->number, 7);
  EXPECT_EQ(numbers(), (std::vector<int>{7, 6, 5}));
  auto frontend = store->ListRevisions("staging", "frontend");
  ASSERT_TRUE(frontend.ok());
  EXPECT_THAT(*frontend, SizeIs(1));
}

TEST_F(SqliteStoreTest, AddRevisionRejectsBadInput) {
  auto store = OpenFile();
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

TEST_F(SqliteStoreTest, RolloutRoundTripsEveryField) {
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  Rollout r = MakeRollout("staging", "backend", 3, 4);
  r.strategy = "canary";
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
  done.phase = "rolled-back";
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

TEST_F(SqliteStoreTest, ListRolloutsNewestFirstByEnvironmentAndService) {
  auto store = OpenFile();
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

TEST_F(SqliteStoreTest, OneUnfinishedRolloutPerService) {
  auto store = OpenFile();
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
  finished.phase = "succeeded";
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
TEST_F(SqliteStoreTest, AConflictingUpdateIsRefusedNeverLost) {
  auto store = OpenFile();
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

TEST_F(SqliteStoreTest, ConcurrentCreateRolloutLetsExactlyOneWin) {
  auto store = OpenFile();
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

TEST_F(SqliteStoreTest, UnfinishedRolloutsSurviveARestart) {
  int64_t running_id = 0;
  {
    auto store = OpenFile();
    ASSERT_NE(store, nullptr);
    auto a = store->CreateRollout(MakeRollout("staging", "backend", 0, 1));
    auto b = store->CreateRollout(MakeRollout("staging", "frontend", 0, 1));
    ASSERT_TRUE(a.ok() && b.ok());
    Rollout done = *b;
    done.finished_at = clock_.Now();
    done.phase = "succeeded";
    ASSERT_TRUE(store->UpdateRollout(done).ok());
    Rollout progressed = *a;
    progressed.state = {{"step", 2}};
    ASSERT_TRUE(store->UpdateRollout(progressed).ok());
    running_id = a->id;
  }
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  auto unfinished = store->UnfinishedRollouts();
  ASSERT_TRUE(unfinished.ok()) << unfinished.status();
  ASSERT_THAT(*unfinished, SizeIs(1));
  EXPECT_EQ((*unfinished)[0].id, running_id);
  EXPECT_EQ((*unfinished)[0].state, nlohmann::json({{"step", 2}}));
  auto version = store->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_GE(*version, 1);
}

TEST_F(SqliteStoreTest, EventsHaveIncreasingIdsAndFilter) {
  auto store = OpenFile();
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

TEST_F(SqliteStoreTest, RolloutAndItsSamplesAreSavedAllOrNothing) {
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  auto rollout = store->CreateRollout(MakeRollout("staging", "backend", 1, 2));
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  ASSERT_TRUE(store->AppendAnalysisSample(rollout->id, clock_.Now(), {{"i", 0}}).ok());
  Rollout updated = *rollout;
  updated.phase = "analysing";
  updated.state = {{"step", 1}};
  ASSERT_TRUE(store
                  ->UpdateRolloutWithSamples(updated, {{clock_.Now(), {{"i", 1}}},
                                                       {clock_.Now(), {{"i", 2}}}})
                  .ok());
  EXPECT_EQ((*store->GetRollout(rollout->id))->phase, "analysing");
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

TEST_F(SqliteStoreTest, AnalysisSamplesComeBackInOrderPerRollout) {
  auto store = OpenFile();
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

TEST_F(SqliteStoreTest, ConcurrentWritersLoseAndDuplicateNothing) {
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  // A second connection to the same file, as another process would have.
  auto other = OpenFile();
  ASSERT_NE(other, nullptr);
  constexpr int kThreads = 6;
  constexpr int kEach = 25;
  std::vector<std::vector<int64_t>> event_ids(kThreads);
  std::vector<std::vector<int>> numbers(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SqliteStore& s = t % 2 == 0 ? *store : *other;
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

TEST_F(SqliteStoreTest, FileIsCreatedWithMode0600) {
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->AppendEvent(MakeEvent("staging", "backend", "x")).ok());
  for (const std::string& file : {path_, path_ + "-wal"}) {
    struct stat st {};
    ASSERT_EQ(stat(file.c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 0777, 0600) << file;
  }
}

TEST_F(SqliteStoreTest, ExistingFileReadableByOthersIsRefusedAndLeftAlone) {
  { std::ofstream(path_).flush(); }
  ASSERT_EQ(chmod(path_.c_str(), 0644), 0);
  auto store = SqliteStore::Open(path_, clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(store.status().message(), HasSubstr("mode 644"));
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644);  // never changed behind the user's back

  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  EXPECT_NE(OpenFile(), nullptr);  // an empty file becomes a database
}

TEST_F(SqliteStoreTest, FolderIsNotADatabase) {
  auto store = SqliteStore::Open(dir_.path(), clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(dir_.path()));
}

TEST_F(SqliteStoreTest, MissingFolderIsAClearError) {
  const std::string path = dir_.path() + "/missing/state.db";
  auto store = SqliteStore::Open(path, clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("cannot open " + path));
  EXPECT_THAT(store.status().message(), HasSubstr("No such file or directory"));
}

TEST_F(SqliteStoreTest, NotADatabaseIsAClearErrorAndLeftUntouched) {
  const std::string text = "this is not an SQLite file, but it is long enough to look at\n";
  { std::ofstream(path_) << text; }
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  auto store = SqliteStore::Open(path_, clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(path_));
  std::ifstream in(path_);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, text);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  { ASSERT_NE(OpenFile(), nullptr); }
  RawExec(path_, "INSERT INTO schema_version (version, applied_at) VALUES (999, 0)");
  auto store = SqliteStore::Open(path_, clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 999"));
}

TEST_F(SqliteStoreTest, CorruptJsonIsAClearErrorStatus) {
  int64_t id = 0;
  {
    auto store = OpenFile();
    ASSERT_NE(store, nullptr);
    auto r = store->CreateRollout(MakeRollout("staging", "backend", 0, 1));
    ASSERT_TRUE(r.ok());
    id = r->id;
    ASSERT_TRUE(store->AddRevision(MakeRevision("staging", "backend", "v"), 10).ok());
    ASSERT_TRUE(store->AppendEvent(MakeEvent("staging", "backend", "x")).ok());
  }
  RawExec(path_, "UPDATE rollouts SET state = '{not json'");
  RawExec(path_, "UPDATE revisions SET env = '{\"A\": 1}'");
  RawExec(path_, "UPDATE events SET data = ''");
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);

  auto rollout = store->GetRollout(id);
  EXPECT_EQ(rollout.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(rollout.status().message(), HasSubstr(absl::StrCat("state of rollout ", id)));
  EXPECT_EQ(store->UnfinishedRollouts().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store->LatestRollout("staging", "backend").status().code(),
            absl::StatusCode::kDataLoss);

  auto revision = store->GetRevision("staging", "backend", 1);
  EXPECT_EQ(revision.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(revision.status().message(), HasSubstr("env of revision 1"));

  auto events = store->EventsAfter(0, 10);
  EXPECT_EQ(events.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(events.status().message(), HasSubstr("data of event 1"));
}

TEST_F(SqliteStoreTest, InMemoryWorks) {
  auto store = SqliteStore::Open(":memory:", clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto r = (*store)->AddRevision(MakeRevision("staging", "backend", "v"), 10);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->number, 1);
}

}  // namespace
}  // namespace hut::store
