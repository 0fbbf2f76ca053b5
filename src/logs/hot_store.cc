#include "src/logs/hot_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace hut::logs {
namespace {

constexpr int64_t kMsPerDay = 86'400'000;
constexpr int kCursorShift = 32;  // cursor = day << 32 | rowid

absl::Status SqliteError(sqlite3* db, std::string_view what) {
  return absl::InternalError(absl::StrCat("log store: ", std::string(what), ": ", sqlite3_errmsg(db)));
}

absl::Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    absl::Status s = absl::InternalError(absl::StrCat("log store: ", sql, ": ", err ? err : "?"));
    sqlite3_free(err);
    return s;
  }
  return absl::OkStatus();
}

// A prepared statement, finalized when it goes.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) !=
        SQLITE_OK) {
      status_ = SqliteError(db, sql);
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  const absl::Status& status() const { return status_; }
  sqlite3_stmt* get() { return stmt_; }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindOrNull(int i, const std::string& v) {
    if (v.empty()) {
      sqlite3_bind_null(stmt_, i);
    } else {
      Bind(i, v);
    }
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status status_;
};

std::string Text(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, col))) : std::string();
}

}  // namespace

Day DayOf(int64_t ts_ms) { return ts_ms >= 0 ? ts_ms / kMsPerDay : (ts_ms - kMsPerDay + 1) / kMsPerDay; }

std::string DayName(Day day) {
  const absl::CivilDay d = absl::CivilDay(1970, 1, 1) + day;
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

std::optional<Day> ParseDayName(std::string_view name) {
  absl::CivilDay d;
  if (name.size() != 10 || !absl::ParseCivilTime(std::string(name), &d)) return std::nullopt;
  return d - absl::CivilDay(1970, 1, 1);
}

bool Matches(const LogQuery& q, const LogRecord& r) {
  return (q.service.empty() || r.service == q.service) && r.level <= q.level &&
         (q.version.empty() || r.version == q.version) &&
         (q.trace_id.empty() || r.trace_id == q.trace_id) &&
         (q.grep.empty() || r.line.find(q.grep) != std::string::npos);
}

absl::StatusOr<std::unique_ptr<HotLogStore>> HotLogStore::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("log store: cannot create ", dir, ": ", ec.message()));
  return std::unique_ptr<HotLogStore>(new HotLogStore(dir));
}

HotLogStore::~HotLogStore() {
  absl::MutexLock lock(&mu_);
  for (auto& [day, db] : dbs_) sqlite3_close_v2(db);
}

std::string HotLogStore::PathOf(Day day) const { return absl::StrCat(dir_, "/", DayName(day), ".db"); }

absl::StatusOr<sqlite3*> HotLogStore::DbFor(Day day, bool create) {
  if (auto it = dbs_.find(day); it != dbs_.end()) return it->second;
  const std::string path = PathOf(day);
  if (!create && !std::filesystem::exists(path)) return nullptr;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    absl::Status s = SqliteError(db, absl::StrCat("open ", path));
    sqlite3_close_v2(db);
    return s;
  }
  // A lost last batch on power loss is acceptable for logs; a corrupt file is not (WAL).
  absl::Status s = Exec(db,
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;"
                        "CREATE TABLE IF NOT EXISTS lines(ts INTEGER NOT NULL, level INTEGER NOT NULL,"
                        " service TEXT NOT NULL, version TEXT, replica TEXT, trace_id TEXT,"
                        " request_id TEXT, line TEXT NOT NULL);"
                        "CREATE INDEX IF NOT EXISTS by_service_ts ON lines(service, ts);"
                        "CREATE INDEX IF NOT EXISTS by_trace ON lines(trace_id) WHERE trace_id IS NOT NULL;");
  if (!s.ok()) {
    sqlite3_close_v2(db);
    return s;
  }
  dbs_[day] = db;
  return db;
}

absl::Status HotLogStore::Append(const std::vector<LogRecord>& batch) {
  std::map<Day, std::vector<const LogRecord*>> by_day;
  for (const LogRecord& r : batch) by_day[DayOf(r.ts_ms)].push_back(&r);
  absl::MutexLock lock(&mu_);
  for (const auto& [day, records] : by_day) {
    absl::StatusOr<sqlite3*> db = DbFor(day, /*create=*/true);
    if (!db.ok()) return db.status();
    Statement insert(*db,
                     "INSERT INTO lines(ts, level, service, version, replica, trace_id, request_id,"
                     " line) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert.status().ok()) return insert.status();
    if (absl::Status s = Exec(*db, "BEGIN"); !s.ok()) return s;
    for (const LogRecord* r : records) {
      insert.Bind(1, r->ts_ms);
      insert.Bind(2, static_cast<int64_t>(r->level));
      insert.Bind(3, r->service);
      insert.BindOrNull(4, r->version);
      insert.BindOrNull(5, r->replica);
      insert.BindOrNull(6, r->trace_id);
      insert.BindOrNull(7, r->request_id);
      insert.Bind(8, r->line);
      if (sqlite3_step(insert.get()) != SQLITE_DONE) {
        absl::Status s = SqliteError(*db, "insert");
        Exec(*db, "ROLLBACK").IgnoreError();
        return s;
      }
      sqlite3_reset(insert.get());
    }
    if (absl::Status s = Exec(*db, "COMMIT"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<Day> HotLogStore::Days() {
  std::vector<Day> days;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".db")) continue;
    if (auto day = ParseDayName(name.substr(0, name.size() - 3))) days.push_back(*day);
  }
  std::sort(days.begin(), days.end());
  return days;
}

absl::StatusOr<HotLogStore::Result> HotLogStore::Query(const LogQuery& q) {
  const std::vector<Day> all = Days();
  std::vector<Day> days = all;
  const std::optional<Day> after_day =
      q.after ? std::optional<Day>(*q.after >> kCursorShift) : std::nullopt;
  const int64_t after_row = q.after ? (*q.after & ((int64_t{1} << kCursorShift) - 1)) : 0;
  std::erase_if(days, [&](Day d) {
    return (q.from_ms && (d + 1) * kMsPerDay <= *q.from_ms) || (q.to_ms && d * kMsPerDay >= *q.to_ms) ||
           (after_day && d < *after_day);
  });
  // Following (after): the oldest lines first, in the order they were
  // stored. Else: the newest `limit` of the range.
  const bool follow = q.after.has_value();
  if (!follow) std::reverse(days.begin(), days.end());

  std::string where = "level <= ?1";
  if (!q.service.empty()) absl::StrAppend(&where, " AND service = ?2");
  if (q.from_ms) absl::StrAppend(&where, " AND ts >= ?3");
  if (q.to_ms) absl::StrAppend(&where, " AND ts < ?4");
  if (!q.version.empty()) absl::StrAppend(&where, " AND version = ?5");
  if (!q.trace_id.empty()) absl::StrAppend(&where, " AND trace_id = ?6");
  if (!q.grep.empty()) absl::StrAppend(&where, " AND instr(line, ?7) > 0");
  const std::string base = absl::StrCat("SELECT rowid, ts, line FROM lines WHERE ", where);

  Result out;
  const size_t want = q.limit + 1;  // one more: was anything left out?
  absl::MutexLock lock(&mu_);
  if (!follow) {
    // Under the same lock as the query: no line is stored in between.
    absl::StatusOr<int64_t> end = EndCursor(all);
    if (!end.ok()) return end.status();
    out.end = *end;
  }
  for (Day day : days) {
    if (out.lines.size() >= want) break;
    absl::StatusOr<sqlite3*> db = DbFor(day, /*create=*/false);
    if (!db.ok()) return db.status();
    if (*db == nullptr) continue;
    const bool in_after_day = after_day && day == *after_day;
    Statement select(*db, absl::StrCat(base, in_after_day ? " AND rowid > ?8" : "",
                                       follow ? " ORDER BY rowid" : " ORDER BY ts DESC, rowid DESC",
                                       " LIMIT ?9"));
    if (!select.status().ok()) return select.status();
    select.Bind(1, static_cast<int64_t>(q.level));
    if (!q.service.empty()) select.Bind(2, q.service);
    if (q.from_ms) select.Bind(3, *q.from_ms);
    if (q.to_ms) select.Bind(4, *q.to_ms);
    if (!q.version.empty()) select.Bind(5, q.version);
    if (!q.trace_id.empty()) select.Bind(6, q.trace_id);
    if (!q.grep.empty()) select.Bind(7, q.grep);
    if (in_after_day) select.Bind(8, after_row);
    select.Bind(9, static_cast<int64_t>(want - out.lines.size()));
    int rc;
    while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
      out.lines.push_back({sqlite3_column_int64(select.get(), 1), Text(select.get(), 2),
                           (day << kCursorShift) | sqlite3_column_int64(select.get(), 0)});
    }
    if (rc != SQLITE_DONE) return SqliteError(*db, "query");
  }
  if (out.lines.size() > q.limit) {
    out.truncated = true;
    out.lines.resize(q.limit);
  }
  if (!follow) std::reverse(out.lines.begin(), out.lines.end());
  return out;
}

absl::StatusOr<int64_t> HotLogStore::EndCursor(const std::vector<Day>& days) {
  for (auto it = days.rbegin(); it != days.rend(); ++it) {
    absl::StatusOr<sqlite3*> db = DbFor(*it, /*create=*/false);
    if (!db.ok()) return db.status();
    if (*db == nullptr) continue;
    Statement max(*db, "SELECT max(rowid) FROM lines");
    if (!max.status().ok()) return max.status();
    if (sqlite3_step(max.get()) == SQLITE_ROW && sqlite3_column_type(max.get(), 0) != SQLITE_NULL) {
      return (*it << kCursorShift) | sqlite3_column_int64(max.get(), 0);
    }
  }
  return 0;
}

absl::StatusOr<int64_t> HotLogStore::Export(Day day,
                                            const std::function<void(const std::string&)>& each) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<sqlite3*> db = DbFor(day, /*create=*/false);
  if (!db.ok()) return db.status();
  if (*db == nullptr) return 0;
  Statement select(*db, "SELECT line FROM lines ORDER BY rowid");
  if (!select.status().ok()) return select.status();
  int64_t n = 0;
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    each(Text(select.get(), 0));
    ++n;
  }
  if (rc != SQLITE_DONE) return SqliteError(*db, "export");
  return n;
}

absl::Status HotLogStore::Drop(Day day) {
  absl::MutexLock lock(&mu_);
  if (auto it = dbs_.find(day); it != dbs_.end()) {
    sqlite3_close_v2(it->second);
    dbs_.erase(it);
  }
  const std::string path = PathOf(day);
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix, ec);
  if (std::filesystem::exists(path)) return absl::InternalError(absl::StrCat("log store: cannot delete ", path));
  return absl::OkStatus();
}

}  // namespace hut::logs
