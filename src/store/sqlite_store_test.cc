// The SQLite-only store tests: the file (mode, format, schema migrations,
// corruption). What every Store must do is in store_suite_test.cc.
#include "src/store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/store/store_test_util.h"
#include "testing/fake_clock.h"
#include "testing/test_env.h"

namespace hut::store {
namespace {

using ::testing::HasSubstr;

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

// A file from an older build (schema version 3, before leases) is migrated
// forward on open, keeping its data.
TEST_F(SqliteStoreTest, OlderSchemaIsMigratedForward) {
  int64_t id = 0;
  {
    auto store = OpenFile();
    ASSERT_NE(store, nullptr);
    auto r = store->CreateRollout(MakeRollout("staging", "backend", 0, 1));
    ASSERT_TRUE(r.ok()) << r.status();
    id = r->id;
  }
  RawExec(path_,
          "DROP TABLE leases; DROP TABLE alerts; DROP TABLE notifications;"
          " DELETE FROM schema_version WHERE version >= 4");
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->SchemaVersion(), 5);
  auto rollout = store->GetRollout(id);
  ASSERT_TRUE(rollout.ok() && rollout->has_value());
  EXPECT_EQ((*rollout)->version, 1);
  auto lease = store->AcquireLease("controller", "a", std::chrono::seconds(10), clock_.Now());
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->token, 1);
}

}  // namespace
}  // namespace hut::store
