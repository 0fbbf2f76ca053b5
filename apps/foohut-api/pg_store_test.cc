// PgStore and Migrator against the real PostgreSQL of backends_env.h.
#include "apps/foohut-api/pg_store.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "apps/foohut-api/backends_env.h"
#include "apps/foohut-api/migrations.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/secret.h"
#include "testing/capture_log_sink.h"

namespace hut::foohut {
namespace {

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Migrator(Secret(TestBackends().database_url()), log_).Up().ok());
  }
  std::string UniqueEmail() { return RandomHexForTest(8) + "@foohut.com"; }

  RealClock clock_;
  testing::CaptureLogSink sink_;
  Logger log_{sink_, clock_, "test"};
  PgStore store_{Secret(TestBackends().database_url()), log_};
};

TEST_F(PgStoreTest, Users) {
  const std::string email = UniqueEmail();
  absl::StatusOr<User> user = store_.CreateUser(email, "$argon2id$fake");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_GT(user->id, 0);
  EXPECT_EQ(store_.CreateUser(email, "x").status().code(), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<User> found = store_.FindUserByEmail(email);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->id, user->id);
  EXPECT_EQ(found->password_hash, "$argon2id$fake");
  EXPECT_EQ(store_.FindUserByEmail("nobody-" + email).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, PagesAndSearch) {
  absl::StatusOr<User> user = store_.CreateUser(UniqueEmail(), "h");
  ASSERT_TRUE(user.ok());
  const std::string word = "zq" + RandomHexForTest(4);  // letters and digits: one token
  absl::StatusOr<CreatedPage> body_page =
      store_.CreatePage(user->id, "Other", "about " + word + " here");
  absl::StatusOr<CreatedPage> title_page = store_.CreatePage(user->id, word + " guide", "text");
  ASSERT_TRUE(body_page.ok()) << body_page.status();
  ASSERT_TRUE(title_page.ok()) << title_page.status();
  EXPECT_TRUE(body_page->owners_first);
  EXPECT_FALSE(title_page->owners_first);
  const Page* in_body = &body_page->page;
  const Page* in_title = &title_page->page;
  EXPECT_THAT(in_title->created_at,
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z"));

  absl::StatusOr<Page> got = store_.GetPage(in_title->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, *in_title);
  EXPECT_EQ(store_.GetPage(in_title->id + 1000000).status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<std::vector<Page>> found = store_.SearchPages(word, 20);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0].id, in_title->id);  // title weighs more
  EXPECT_EQ((*found)[1].id, in_body->id);
  found = store_.SearchPages(word, 1);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 1u);
  // plainto_tsquery: punctuation and SQL are just words.
  found = store_.SearchPages("'; DROP TABLE pages; --", 20);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(found->empty());
}

// Pages created at once by one new user: exactly one is their first (the
// conversion foohut-api counts).
TEST_F(PgStoreTest, ExactlyOnePageIsTheOwnersFirstEvenConcurrently) {
  absl::StatusOr<User> user = store_.CreateUser(UniqueEmail(), "h");
  ASSERT_TRUE(user.ok());
  std::atomic<int> firsts = 0, failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      absl::StatusOr<CreatedPage> created = store_.CreatePage(user->id, "t", "b");
      if (!created.ok()) ++failures;
      if (created.ok() && created->owners_first) ++firsts;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(firsts, 1);
}

TEST_F(PgStoreTest, ConcurrentUse) {
  absl::StatusOr<User> user = store_.CreateUser(UniqueEmail(), "h");
  ASSERT_TRUE(user.ok());
  absl::StatusOr<CreatedPage> created = store_.CreatePage(user->id, "t", "b");
  ASSERT_TRUE(created.ok());
  const Page* page = &created->page;
  std::atomic<int> failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {  // more threads than pooled connections
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (!store_.GetPage(page->id).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, 0);
}

// A credential rotation's new login, taken while requests run: none fails,
// the new connections log in as the new user, and the old login's
// connections are all closed once their requests are done.
TEST_F(PgStoreTest, ANewLoginIsTakenWhileServingAndTheOldConnectionsDrain) {
  local::PostgresLogins& logins = TestBackends().postgres().logins();
  // Characters a URI would misread, percent-encoded by WithLogin.
  const Secret password(RandomSecretHex(8).Reveal() + "@&=/ ?#%+");
  ASSERT_TRUE(logins.SetPassword("foohut_clone", password).ok());
  absl::StatusOr<User> owner = store_.CreateUser(UniqueEmail(), "h");
  ASSERT_TRUE(owner.ok()) << owner.status();
  absl::Mutex mu;
  bool stop = false;
  int failures = 0, done = 0;
  const auto wait_done = [&](int n) {  // the workers' progress on the real server
    absl::MutexLock lock(&mu);
    auto reached = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return done >= n; };
    mu.Await(absl::Condition(&reached));
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        absl::StatusOr<CreatedPage> page = store_.CreatePage(owner->id, "rotation", "body");
        absl::MutexLock lock(&mu);
        failures += page.ok() ? 0 : 1;
        ++done;
        if (stop) return;
      }
    });
  }
  wait_done(100);
  EXPECT_GT(*logins.Sessions("foohut"), 0);
  store_.UseLogin({.username = "foohut_clone", .password = password});
  int at_change = 0;
  {
    absl::MutexLock lock(&mu);
    at_change = done;
  }
  wait_done(at_change + 300);
  {
    absl::MutexLock lock(&mu);
    stop = true;
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(store_.OldConnections(), 0);
  EXPECT_GT(*logins.Sessions("foohut_clone"), 0);
  int old_sessions = -1;
  for (int i = 0; i < 100 && old_sessions != 0; ++i) {  // the backends exit just after the close
    old_sessions = *logins.Sessions("foohut");
    if (old_sessions != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(old_sessions, 0);
  // The new login reads what the old one wrote (it acts as the owner).
  absl::StatusOr<User> again = store_.FindUserByEmail(owner->email);
  EXPECT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(logins.Disable("foohut_clone").ok());
}

TEST_F(PgStoreTest, RecoversAfterDatabaseRestart) {
  absl::StatusOr<User> user = store_.CreateUser(UniqueEmail(), "h");
  ASSERT_TRUE(user.ok());
  absl::StatusOr<CreatedPage> created = store_.CreatePage(user->id, "t", "b");
  ASSERT_TRUE(created.ok());
  const Page* page = &created->page;
  ASSERT_TRUE(store_.Ping().ok());

  TestBackends().StopPostgres();
  EXPECT_EQ(store_.GetPage(page->id).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_.Ping().code(), absl::StatusCode::kUnavailable);
  TestBackends().StartPostgres();

  absl::StatusOr<Page> again = store_.GetPage(page->id);
  EXPECT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(store_.Ping().ok());
}

TEST_F(PgStoreTest, WriteAfterRestartUsesAFreshConnection) {
  // Fill the pool with idle connections, then restart the server under them.
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] { ASSERT_TRUE(store_.SearchPages("warm", 1).ok()); });
  }
  for (std::thread& t : threads) t.join();
  TestBackends().StopPostgres();
  TestBackends().StartPostgres();
  absl::StatusOr<User> user = store_.CreateUser(UniqueEmail(), "h");
  EXPECT_TRUE(user.ok()) << user.status();
}

TEST(MigratorTest, UpDownUpInProcess) {
  RealClock clock;
  testing::CaptureLogSink sink;
  Migrator m(Secret(TestBackends().database_url()), Logger(sink, clock, "migrate"));
  ASSERT_TRUE(m.Up().ok());
  absl::StatusOr<int> down = m.Down(100);
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_EQ(*down, static_cast<int>(AllMigrations().size()));
  absl::StatusOr<std::vector<MigrationState>> states = m.Status();
  ASSERT_TRUE(states.ok());
  for (const MigrationState& s : *states) EXPECT_FALSE(s.applied) << s.name;

  // Two migrators at once (two replicas started with --migrate): each step once.
  Migrator other(Secret(TestBackends().database_url()), Logger(sink, clock, "migrate"));
  absl::StatusOr<int> a, b;
  std::thread t([&] { a = other.Up(); });
  b = m.Up();
  t.join();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*a + *b, static_cast<int>(AllMigrations().size()));
  states = m.Status();
  ASSERT_TRUE(states.ok());
  for (const MigrationState& s : *states) EXPECT_TRUE(s.applied) << s.name;
}

TEST(MigratorTest, VersionsStrictlyIncrease) {
  int last = 0;
  for (const Migration& m : AllMigrations()) {
    EXPECT_GT(m.version, last);
    EXPECT_FALSE(m.up.empty());
    EXPECT_FALSE(m.down.empty());
    last = m.version;
  }
}

}  // namespace
}  // namespace hut::foohut
