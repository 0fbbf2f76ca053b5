#include "src/local/log_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hut::local {
namespace {
constexpr size_t kMaxDatagram = 64 * 1024;
// Room for bursts: a few thousand access lines.
constexpr int kReceiveBuffer = 4 * 1024 * 1024;
}  // namespace

absl::StatusOr<std::unique_ptr<LogSocket>> LogSocket::Open(const std::string& path,
                                                           LogFollower::Convert convert,
                                                           LogSink& sink) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat(
        "log socket path too long (", path.size(), " bytes, at most ", sizeof addr.sun_path - 1,
        "): ", path, "; choose a shorter state folder"));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  // Force past rmem_max where we may (root); else what the kernel allows.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer, sizeof kReceiveBuffer) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);
  }
  unlink(path.c_str());  // a socket left by a server that was killed
  const mode_t old_mask = umask(0077);
  const int bound = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  umask(old_mask);
  if (bound != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(
        absl::StrCat("cannot bind log socket ", path, ": ", std::strerror(err)));
  }
  std::unique_ptr<LogSocket> s(new LogSocket(path, fd, std::move(convert), sink));
  s->thread_ = std::thread([raw = s.get()] { raw->ReadLoop(); });
  return s;
}

LogSocket::LogSocket(std::string path, int fd, LogFollower::Convert convert, LogSink& sink)
    : path_(std::move(path)), fd_(fd), convert_(std::move(convert)), sink_(sink) {}

LogSocket::~LogSocket() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  Drain();
  close(fd_);
  unlink(path_.c_str());
}

void LogSocket::ReadLoop() {
  while (!stopping_.load()) {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 100) > 0) Drain();
  }
}

bool LogSocket::Drain() {
  std::vector<char> buffer(kMaxDatagram);
  bool any = false;
  while (true) {
    const ssize_t n = recv(fd_, buffer.data(), buffer.size(), 0);
    if (n < 0) return any;  // EAGAIN: nothing more now
    any = true;
    std::string_view line(buffer.data(), static_cast<size_t>(n));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (std::optional<std::string> out = convert_(line)) {
      lines_.fetch_add(1);  // counted first: a reader that sees the line sees the count
      sink_.Write(*out);
    }
  }
}

}  // namespace hut::local
