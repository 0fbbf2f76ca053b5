#include "src/local/log_follower.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string_view>

#include "nlohmann/json.hpp"
#include "src/local/server_util.h"

namespace hut::local {

namespace {
// A line longer than this is passed on in pieces (a runaway line must not
// hold up the file, nor hut's memory).
constexpr size_t kMaxLine = 64 * 1024;
constexpr size_t kReadChunk = 256 * 1024;
constexpr size_t kHeadBytes = 64;

// The hash of the first min(kHeadBytes, offset) bytes of `fd`.
uint64_t HeadHash(int fd, uint64_t offset) {
  char head[kHeadBytes];
  const size_t want = static_cast<size_t>(std::min<uint64_t>(kHeadBytes, offset));
  const ssize_t n = pread(fd, head, want, 0);
  return std::hash<std::string_view>()(std::string_view(head, n > 0 ? static_cast<size_t>(n) : 0));
}
}  // namespace

LogFollower::LogFollower(std::string positions, LogSink& sink, const Clock& clock)
    : positions_(std::move(positions)), sink_(sink), clock_(clock) {
  if (positions_.empty()) return;
  std::ifstream in(positions_);
  const nlohmann::json saved = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!saved.is_object()) return;  // none yet, or unreadable: from the ends
  for (const auto& [path, p] : saved.items()) {
    if (p.is_object() && p.value("inode", 0ull) != 0) {
      saved_[path] = {.inode = static_cast<ino_t>(p.value("inode", 0ull)),
                      .offset = p.value("offset", 0ull),
                      .head = p.value("head", 0ull)};
    }
  }
}

LogFollower::~LogFollower() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  Poll();
}

void LogFollower::Follow(const std::string& path, Convert convert) {
  absl::MutexLock lock(&mu_);
  File f{.path = path, .convert = std::move(convert), .inode = 0, .offset = 0, .head = 0,
         .known = false};
  if (auto it = saved_.find(path); it != saved_.end()) {
    f.inode = it->second.inode;
    f.offset = it->second.offset;
    f.head = it->second.head;
    f.known = true;
  }
  files_.push_back(std::move(f));
}

void LogFollower::Start(std::chrono::milliseconds interval) {
  thread_ = std::thread([this, interval] {
    absl::MutexLock lock(&mu_);
    while (!clock_.AwaitUntil(mu_, absl::Condition(&stopping_), clock_.Now() + interval)) {
      int lines = 0;
      for (File& f : files_) lines += PollFile(f);
      if (lines > 0) SavePositions();
    }
  });
}

int LogFollower::Poll() {
  absl::MutexLock lock(&mu_);
  int lines = 0;
  for (File& f : files_) lines += PollFile(f);
  if (lines > 0) SavePositions();
  return lines;
}

int LogFollower::PollFile(File& file) {
  const int fd = open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;  // not there (yet)
  struct stat st {};
  fstat(fd, &st);
  // Another file by that name (a new server's), or this one truncated, or
  // one never read: from its start.
  if (!file.known || st.st_ino != file.inode ||
      static_cast<uint64_t>(st.st_size) < file.offset ||
      (file.offset > 0 && HeadHash(fd, file.offset) != file.head)) {
    file.inode = st.st_ino;
    file.offset = 0;
    file.known = true;
  }
  int lines = 0;
  std::string buffer;
  std::vector<char> chunk(kReadChunk);
  while (true) {
    const ssize_t n =
        pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(file.offset + buffer.size()));
    if (n <= 0) break;
    buffer.append(chunk.data(), static_cast<size_t>(n));
    // Complete lines only; the rest waits for its newline.
    size_t start = 0;
    while (true) {
      const size_t nl = buffer.find('\n', start);
      const bool cut = (nl == std::string::npos ? buffer.size() : nl) - start > kMaxLine;
      if (nl == std::string::npos && !cut) break;
      const size_t end = cut ? start + kMaxLine : nl;
      std::string_view line(buffer.data() + start, end - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) {
        if (std::optional<std::string> out = file.convert(line)) {
          sink_.Write(*out);
          ++lines;
        }
      }
      start = cut ? end : end + 1;
    }
    file.offset += start;
    buffer.erase(0, start);
  }
  file.head = HeadHash(fd, file.offset);
  close(fd);
  return lines;
}

void LogFollower::SavePositions() {
  if (positions_.empty()) return;
  nlohmann::json out = nlohmann::json::object();
  for (const File& f : files_) {
    if (f.known) {
      out[f.path] = {
          {"inode", static_cast<uint64_t>(f.inode)}, {"offset", f.offset}, {"head", f.head}};
    }
  }
  (void)WriteFileAtomically(positions_, out.dump() + "\n");
}

}  // namespace hut::local
