#include "src/local/process_usage.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace hut::local {
namespace fs = std::filesystem;

namespace {

// /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and ')',
// so the fields are read after the last ')'. Fields counted from 1 as in
// proc(5): 4 ppid, 14 utime, 15 stime, 16 cutime, 17 cstime, 24 rss (pages).
bool ParseStat(const std::string& text, pid_t& ppid, double& cpu_seconds,
               uint64_t& resident_bytes) {
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  const std::vector<std::string> f =
      absl::StrSplit(text.substr(close + 1), ' ', absl::SkipWhitespace());
  if (f.size() < 22) return false;
  // f[0] is field 3 (state).
  auto field = [&f](int n, int64_t& out) {
    return absl::SimpleAtoi(f[static_cast<size_t>(n - 3)], &out);
  };
  int64_t parent = 0, utime = 0, stime = 0, cutime = 0, cstime = 0, rss = 0;
  if (!field(4, parent) || !field(14, utime) || !field(15, stime) || !field(16, cutime) ||
      !field(17, cstime) || !field(24, rss)) {
    return false;
  }
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  static const int64_t page = sysconf(_SC_PAGESIZE);
  ppid = static_cast<pid_t>(parent);
  cpu_seconds = static_cast<double>(utime + stime + cutime + cstime) / ticks;
  resident_bytes = rss > 0 ? static_cast<uint64_t>(rss * page) : 0;
  return true;
}

int CountFds(const std::string& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return -1;
  int n = 0;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return -1;
    ++n;
  }
  return n;
}

}  // namespace

ProcessTable ProcessTable::Read(const std::string& proc) {
  ProcessTable table;
  table.proc_ = proc;
  std::error_code ec;
  for (fs::directory_iterator it(proc, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    pid_t pid = 0;
    if (std::from_chars(name.data(), name.data() + name.size(), pid).ec != std::errc() ||
        pid <= 0) {
      continue;
    }
    std::ifstream in(it->path() / "stat");
    std::stringstream text;
    text << in.rdbuf();
    Entry e;
    // A process that exited between the listing and the read is skipped.
    if (!in || !ParseStat(text.str(), e.ppid, e.cpu_seconds, e.resident_bytes)) continue;
    table.entries_[pid] = e;
    table.children_.emplace(e.ppid, pid);
  }
  return table;
}

ProcessUsage ProcessTable::Usage(pid_t root) const {
  ProcessUsage usage;
  if (!entries_.contains(root)) return usage;
  std::vector<pid_t> pending = {root};
  while (!pending.empty()) {
    const pid_t pid = pending.back();
    pending.pop_back();
    const Entry& e = entries_.at(pid);
    ++usage.processes;
    usage.cpu_seconds += e.cpu_seconds;
    usage.resident_bytes += e.resident_bytes;
    const int fds = CountFds(proc_ + "/" + std::to_string(pid) + "/fd");
    usage.open_fds = (fds < 0 || usage.open_fds < 0) ? -1 : usage.open_fds + fds;
    auto [first, last] = children_.equal_range(pid);
    for (auto it = first; it != last; ++it) {
      if (entries_.contains(it->second)) pending.push_back(it->second);
    }
  }
  return usage;
}

}  // namespace hut::local
