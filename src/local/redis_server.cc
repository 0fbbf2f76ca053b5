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
#include "src/common/resources.h"
#include "src/common/secret.h"
#include "src/common/status.h"
#include "src/local/server_util.h"

namespace hut::local {
namespace {

// True when a Redis server on 127.0.0.1:port accepts `user`'s password and
// answers PING with +PONG.
bool Pings(uint16_t port, const std::string& user, const Secret& password) {
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
    // RESP arrays, so that no character of the password is taken for syntax.
    auto bulk = [](const std::string& s) {
      return absl::StrCat("$", s.size(), "\r\n", s, "\r\n");
    };
    const std::string request = absl::StrCat("*3\r\n", bulk("AUTH"), bulk(user),
                                             bulk(password.Reveal()), "*1\r\n", bulk("PING"));
    std::string answer;
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[64];
      ssize_t n;
      while (answer.find("\r\n", answer.find("\r\n") + 1) == std::string::npos &&
             (n = read(fd, buf, sizeof buf)) > 0) {
        answer.append(buf, static_cast<size_t>(n));
      }
    }
    ok = answer.starts_with("+OK\r\n+PONG");
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
  const std::string log_file = server->log_file();
  if (opts.password_file.empty()) opts.password_file = opts.dir + "/password";
  Secret password;
  if (std::filesystem::exists(opts.password_file)) {
    HUT_ASSIGN_OR_RETURN(std::string text, ReadFileCapped(opts.password_file, 4096));
    password = Secret(text.substr(0, text.find('\n')));
    if (password.empty()) {
      return absl::InvalidArgumentError(opts.password_file + ": empty password file");
    }
  } else {
    password = RandomSecretHex(24);
    HUT_RETURN_IF_ERROR(WritePrivateFile(opts.password_file, password.Reveal() + "\n"));
  }
  server->password_ = password;
  // The ACL goes in a private file: a command line is readable by everyone.
  const std::string config = opts.dir + "/redis.conf";
  HUT_RETURN_IF_ERROR(WritePrivateFile(
      config, absl::StrCat("# Written by hut at every start; edits are lost.\n",
                           "user default off\n", "user ", opts.user, " on >", password.Reveal(),
                           " ~* &* +@all\n")));
  ProcessOptions run;
  run.argv = {"redis-server",   config, "--port", std::to_string(opts.port), "--bind", "127.0.0.1",
              "--daemonize",    "no",     "--dir",  opts.dir,   "--save", "",
              "--appendonly",   opts.persist ? "yes" : "no",
              "--protected-mode", "yes"};
  run.env["TZ"] = "UTC";  // its log's times (RedisLogLine)
  run.stdout_mode = OutputMode::kFile;
  run.stdout_path = log_file;
  run.stderr_mode = OutputMode::kFile;
  run.stderr_path = log_file;
  HUT_ASSIGN_OR_RETURN(server->process_, Process::Spawn(run));

  auto deadline = std::chrono::steady_clock::now() + opts.start_timeout;
  while (!Pings(opts.port, opts.user, password)) {
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

std::optional<std::string> RedisServer::Down() { return DownReason(process_.get()); }

absl::Status RedisServer::Restart() {
  Stop();
  HUT_ASSIGN_OR_RETURN(std::unique_ptr<RedisServer> fresh, Start(options_));
  process_ = std::move(fresh->process_);
  return absl::OkStatus();
}

std::string RedisServer::url() const {
  return absl::StrCat("redis://", options_.user, "@127.0.0.1:", options_.port);
}

void RedisServer::Stop() {
  if (!process_) return;
  process_->Stop(std::chrono::seconds(5), SIGTERM);
  process_.reset();
}

}  // namespace hut::local
