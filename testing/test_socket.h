#ifndef HUT_TESTING_TEST_SOCKET_H_
#define HUT_TESTING_TEST_SOCKET_H_

// Test-only: a blocking loopback TCP client for what Fetch cannot do (two
// requests on one connection, garbage, half-sent requests). Every read is
// bounded by a receive timeout.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace hut::http {

class TestSocket {
 public:
  TestSocket() = default;
  TestSocket(const TestSocket&) = delete;
  TestSocket& operator=(const TestSocket&) = delete;
  ~TestSocket() { Close(); }

  // Connects to 127.0.0.1:port; false if refused.
  bool Connect(uint16_t port, std::chrono::milliseconds read_timeout = std::chrono::seconds(5)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    timeval tv{};
    tv.tv_sec = read_timeout.count() / 1000;
    tv.tv_usec = (read_timeout.count() % 1000) * 1000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response framed by Content-Length (or none). nullopt when the
  // connection closes or times out first. The whole response text, head and body.
  std::optional<std::string> ReadResponse(bool head_request = false) {
    size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    const std::string head = pending_.substr(0, end + 4);
    size_t length = 0;
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t cl = lower.find("\r\ncontent-length:");
    if (cl != std::string::npos && !head_request) {
      length = std::stoul(head.substr(cl + 17));
    }
    while (pending_.size() < end + 4 + length) {
      if (!Fill()) return std::nullopt;
    }
    std::string response = pending_.substr(0, end + 4 + length);
    pending_.erase(0, end + 4 + length);
    return response;
  }

  // Everything not yet returned, up to the peer closing (or the read timeout,
  // or `limit` bytes).
  std::string ReadUntilClosed(size_t limit = 1 << 20) {
    while (pending_.size() < limit && Fill()) {
    }
    return std::exchange(pending_, std::string());
  }

  // True when the peer closes (EOF or reset) before the read timeout.
  bool WaitClosed() {
    char buf[4096];
    while (true) {
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool Fill() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string pending_;
};

}  // namespace hut::http

#endif  // HUT_TESTING_TEST_SOCKET_H_
