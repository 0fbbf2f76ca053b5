#include "src/local/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/local/server_util.h"

namespace hut::local {
namespace {

// True when a Redis server on 127.0.0.1:port answers PING with +PONG.
bool Pings(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{0, 500'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    constexpr std::string_view kPing = "PING\r\n";
    char buf[16] = {};
    if (write(fd, kPing.data(), kPing.size()) == static_cast<ssize_t>(kPing.size()) &&
        read(fd, buf, sizeof buf - 1) > 0) {
      ok = std::string_view(buf).starts_with("+PONG");
    }
  }
  close(fd);
  return ok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(const RedisOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("Redis: empty dir");
  std::unique_ptr<RedisServer> server(new RedisServer(options));
  RedisOptions& opts = server->options_;
  std::error_code ec;
  std::filesystem::create_directories(opts.dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create Redis folder ", opts.dir, ": ",
                                            ec.message()));
  }
  std::string log_file = opts.dir + "/redis.log";
  ProcessOptions run;
  run.argv = {"redis-server",   "--port", std::to_string(opts.port), "--bind", "127.0.0.1",
              "--daemonize",    "no",     "--dir",  opts.dir,   "--save", "",
              "--appendonly",   opts.persist ? "yes" : "no",
              "--protected-mode", "yes"};
  run.stdout_mode = OutputMode::kFile;
  run.stdout_path = log_file;
  run.stderr_mode = OutputMode::kFile;
  run.stderr_path = log_file;
  HUT_ASSIGN_OR_RETURN(server->process_, Process::Spawn(run));

  auto deadline = std::chrono::steady_clock::now() + opts.start_timeout;
  while (!Pings(opts.port)) {
    if (auto exited = server->process_->TryWait()) {
      server->process_.reset();
      return absl::UnavailableError(absl::StrCat("Redis on port ", opts.port, " exited (",
                                                 exited->ToString(), "); its log ends:\n",
                                                 TailOfFile(log_file, 2000)));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      server->Stop();
      return absl::DeadlineExceededError(absl::StrCat("Redis on port ", opts.port,
                                                      " not ready within ",
                                                      opts.start_timeout.count(), " ms"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return server;
}

RedisServer::~RedisServer() { Stop(); }

std::string RedisServer::url() const { return absl::StrCat("redis://127.0.0.1:", options_.port); }

void RedisServer::Stop() {
  if (!process_) return;
  process_->Stop(std::chrono::seconds(5), SIGTERM);
  process_.reset();
}

}  // namespace hut::local
