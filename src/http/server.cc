#include "src/http/server.h"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "src/common/status.h"

namespace hut::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr size_t kHeaderLimit = 16 * 1024;
constexpr size_t kReadChunk = 4096;
// After an error answer we read and drop what the client still sends, for at
// most this long, so that closing does not reset the connection before the
// client has read the answer.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr size_t kLingerBytes = 1 << 20;
constexpr std::chrono::milliseconds kAcceptRetry{50};

std::string EndpointString(const tcp::endpoint& endpoint) {
  const asio::ip::address address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

bool IsParseError(const error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

bool HasCrLf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", whatever the locale.
std::string HttpDate(TimePoint now) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  const int n = std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                              kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                              tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

// The path-and-query part of a request target: origin-form as is, absolute-form
// ("http://host:port/p?q", which proxies send) without scheme and authority.
std::string_view OriginForm(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    const std::string_view prefix = target.substr(0, scheme.size());
    if (target.size() > scheme.size() &&
        beast::iequals(beast::string_view(prefix.data(), prefix.size()),
                       beast::string_view(scheme.data(), scheme.size()))) {
      const size_t slash = target.find_first_of("/?", scheme.size());
      if (slash == std::string_view::npos) return "/";
      return target.substr(slash);  // may start with '?': the caller adds the "/"
    }
  }
  return target;
}

class ServerImpl;

// One connection. Everything but the constructor runs on the connection's
// strand; the handler runs on a worker thread and posts its answer back.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerImpl& server, tcp::socket socket);
  ~Session();

  void Start();
  // Closes the connection if it is waiting for a next request with no bytes
  // read. Posts to the strand.
  void CloseIfIdle();
  // Only when no I/O thread runs.
  void ForceClose();

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kLingering, kClosed };

  void DoRead();
  void OnIdleRead(error_code ec, size_t bytes);
  void ReadRequest();
  void OnHeader(error_code ec, size_t bytes);
  void OnContinue(error_code ec, size_t bytes);
  void ReadBody();
  void OnRead(error_code ec, size_t bytes);
  // Answers a request that could not be read (413, 431, 400); true if it did.
  bool AnswerReadError(const error_code& ec);
  void Dispatch();
  void Write(Response response, bool close, bool head);
  void OnWrite(bool keep_alive, bool linger, error_code ec, size_t bytes);
  void Linger();
  void OnLinger(error_code ec, size_t bytes);
  void Close();
  void SetActive(bool active);

  ServerImpl& server_;
  beast::tcp_stream stream_;
  std::string remote_;
  uint64_t id_ = 0;
  State state_ = State::kIdle;
  bool active_ = false;  // counted in ServerImpl::active_
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  size_t lingered_ = 0;
  char drain_[kReadChunk];
};

class ServerImpl final : public Server {
 public:
  ServerImpl(ServerOptions options, Handler handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        logger_(options_.logger ? *options_.logger : Logger(sink_, clock_, "http")),
        accept_strand_(asio::make_strand(ioc_)),
        acceptor_(accept_strand_),
        accept_retry_(accept_strand_),
        work_(asio::make_work_guard(ioc_)),
        workers_(static_cast<size_t>(std::max(options_.worker_threads, 1))) {}

  ~ServerImpl() override { Shutdown(std::chrono::milliseconds(0)); }

  absl::Status Listen() {
    const std::string where = options_.address + ":" + std::to_string(options_.port);
    if (options_.io_threads < 1 || options_.worker_threads < 1) {
      return absl::InvalidArgumentError("io_threads and worker_threads must be at least 1");
    }
    error_code ec;
    const asio::ip::address address = asio::ip::make_address(options_.address, ec);
    if (ec) {
      return absl::InvalidArgumentError("cannot listen on " + where + ": not an IP address");
    }
    const tcp::endpoint endpoint(address, options_.port);
    auto fail = [&](const error_code& ec) {
      return absl::UnavailableError("cannot listen on " + EndpointString(endpoint) + ": " +
                                    ec.message());
    };
    if (acceptor_.open(endpoint.protocol(), ec); ec) return fail(ec);
    if (acceptor_.set_option(asio::socket_base::reuse_address(true), ec); ec) return fail(ec);
    if (acceptor_.bind(endpoint, ec); ec) return fail(ec);
    if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) return fail(ec);
    port_ = acceptor_.local_endpoint(ec).port();
    if (ec) return fail(ec);
    return absl::OkStatus();
  }

  void Run() {
    asio::post(accept_strand_, [this] { Accept(); });
    for (int i = 0; i < options_.io_threads; ++i) {
      io_threads_.emplace_back([this] { RunIo(); });
    }
    running_ = true;
  }

  // An exception escaping an I/O handler (only std::bad_alloc is expected)
  // costs that connection, not the process.
  void RunIo() {
    while (true) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        logger_.Error("exception in HTTP I/O thread", {{"error", e.what()}});
      } catch (...) {
        logger_.Error("exception in HTTP I/O thread", {{"error", "unknown"}});
      }
    }
  }

  uint16_t port() const override { return port_; }
  int in_flight() const override { return handling_.load(); }

  bool Shutdown(std::chrono::milliseconds grace) override {
    std::lock_guard<std::mutex> once(shutdown_mu_);
    if (shutdown_result_) return *shutdown_result_;
    const auto deadline = std::chrono::steady_clock::now() + grace;
    stopping_ = true;
    if (!running_) {
      shutdown_result_ = true;
      return true;
    }
    // 1. Refuse new connections: close the listening socket on its strand.
    std::promise<void> closed;
    asio::post(accept_strand_, [this, &closed] {
      error_code ignored;
      acceptor_.close(ignored);
      accept_retry_.cancel();
      closed.set_value();
    });
    closed.get_future().wait();
    // 2. Close idle keep-alive connections; busy ones close after their answer.
    for (const std::shared_ptr<Session>& session : LiveSessions()) session->CloseIfIdle();
    // 3. Let in-flight requests finish, within the grace period.
    bool clean;
    {
      std::unique_lock<std::mutex> lock(mu_);
      clean = cv_.wait_until(lock, deadline, [this] { return active_ == 0; });
    }
    // 4. Stop I/O, cut what remains, then wait for running handlers.
    work_.reset();
    ioc_.stop();
    for (std::thread& t : io_threads_) t.join();
    io_threads_.clear();
    for (const std::shared_ptr<Session>& session : LiveSessions()) session->ForceClose();
    workers_.stop();
    workers_.join();
    if (!clean) {
      logger_.Warn("shutdown grace period over; cut in-flight requests",
                   {{"grace_ms", grace.count()}});
    }
    shutdown_result_ = clean;
    return clean;
  }

  // For sessions.
  const ServerOptions& options() const { return options_; }
  bool stopping() const { return stopping_.load(); }
  asio::thread_pool& workers() { return workers_; }
  std::atomic<int>& handling() { return handling_; }
  std::string Date() const { return HttpDate(clock_.Now()); }

  Response Call(const Request& request) noexcept {
    try {
      return handler_(request);
    } catch (const std::exception& e) {
      Report("handler threw", request, e.what());
    } catch (...) {
      Report("handler threw", request, "unknown exception");
    }
    return Response::Error(500, "internal error");
  }

  void LogError(std::string_view msg, const nlohmann::ordered_json& fields) {
    logger_.Error(msg, fields);
  }

  uint64_t Register(std::weak_ptr<Session> session) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = ++next_id_;
    sessions_.emplace(id, std::move(session));
    return id;
  }
  void Unregister(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.erase(id);
  }
  void AddActive(int delta) {
    std::lock_guard<std::mutex> lock(mu_);
    active_ += delta;
    if (active_ == 0) cv_.notify_all();
  }

 private:
  void Report(std::string_view msg, const Request& request, std::string_view error) {
    logger_.Error(msg, {{"error", std::string(error)},
                        {"method", request.method},
                        {"target", request.target}});
  }

  std::vector<std::shared_ptr<Session>> LiveSessions() {
    std::vector<std::shared_ptr<Session>> out;
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, weak] : sessions_) {
      if (std::shared_ptr<Session> s = weak.lock()) out.push_back(std::move(s));
    }
    return out;
  }

  // On accept_strand_.
  void Accept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           [this](error_code ec, tcp::socket socket) {
                             OnAccept(ec, std::move(socket));
                           });
  }

  void OnAccept(error_code ec, tcp::socket socket) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of file descriptors, typically: wait a little rather than spin.
      logger_.Error("accept failed", {{"error", ec.message()}});
      accept_retry_.expires_after(kAcceptRetry);
      accept_retry_.async_wait([this](error_code ec) {
        if (!ec && !stopping_) Accept();
      });
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<Session>(*this, std::move(socket))->Start();
    Accept();
  }

  ServerOptions options_;
  Handler handler_;
  StreamLogSink sink_;
  RealClock clock_;
  Logger logger_;
  uint16_t port_ = 0;
  bool running_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<int> handling_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  int active_ = 0;  // connections reading, handling or writing a request
  uint64_t next_id_ = 0;
  std::map<uint64_t, std::weak_ptr<Session>> sessions_;

  std::mutex shutdown_mu_;
  std::optional<bool> shutdown_result_;

  // Destroyed in reverse order: workers first, the io_context (and with it
  // the sessions its pending handlers own) last but before the state above.
  asio::io_context ioc_;
  asio::strand<asio::io_context::executor_type> accept_strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> io_threads_;
  asio::thread_pool workers_;
};

Session::Session(ServerImpl& server, tcp::socket socket)
    : server_(server), stream_(std::move(socket)) {
  error_code ec;
  const tcp::endpoint remote = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ = EndpointString(remote);
}

Session::~Session() {
  if (id_ != 0) server_.Unregister(id_);
  if (active_) server_.AddActive(-1);
}

void Session::Start() {
  id_ = server_.Register(weak_from_this());
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->DoRead(); });
}

void Session::CloseIfIdle() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->state_ == State::kIdle) self->Close();
  });
}

void Session::ForceClose() {
  if (state_ != State::kClosed) Close();
}

void Session::SetActive(bool active) {
  if (active == active_) return;
  active_ = active;
  server_.AddActive(active ? 1 : -1);
}

void Session::DoRead() {
  const ServerOptions& options = server_.options();
  parser_.emplace();
  parser_->body_limit(options.max_body_bytes);
  parser_->header_limit(kHeaderLimit);
  response_.reset();
  if (buffer_.size() > 0) {
    ReadRequest();  // a pipelined request is already here
    return;
  }
  SetActive(false);
  if (server_.stopping()) {
    Close();
    return;
  }
  state_ = State::kIdle;
  stream_.expires_after(options.idle_timeout);
  stream_.async_read_some(buffer_.prepare(kReadChunk),
                          beast::bind_front_handler(&Session::OnIdleRead, shared_from_this()));
}

void Session::OnIdleRead(error_code ec, size_t bytes) {
  if (ec || state_ == State::kClosed) {
    Close();  // peer closed, idle timeout, or closed by Shutdown
    return;
  }
  buffer_.commit(bytes);
  ReadRequest();
}

void Session::ReadRequest() {
  state_ = State::kReading;
  SetActive(true);
  stream_.expires_after(server_.options().read_timeout);  // headers and body together
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
}

void Session::OnHeader(error_code ec, size_t bytes) {
  if (state_ == State::kClosed) return;
  if (AnswerReadError(ec)) return;
  const auto& header = parser_->get();
  const auto expect = header.find(bhttp::field::expect);
  if (header.version() >= 11 && expect != header.end() &&
      beast::iequals(expect->value(), "100-continue") && !parser_->is_done()) {
    // The client waits for this before sending the body (curl does for > 1 KiB).
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      beast::bind_front_handler(&Session::OnContinue, shared_from_this()));
    return;
  }
  ReadBody();
}

void Session::OnContinue(error_code ec, size_t bytes) {
  if (ec || state_ == State::kClosed) {
    Close();
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&Session::OnRead, shared_from_this()));
}

bool Session::AnswerReadError(const error_code& ec) {
  if (ec == bhttp::error::body_limit) {
    Write(Response::Error(413, "request body larger than " +
                                   std::to_string(server_.options().max_body_bytes) + " bytes"),
          true, false);
    return true;
  }
  if (ec == bhttp::error::header_limit) {
    Write(Response::Error(431, "request header fields too large"), true, false);
    return true;
  }
  if (IsParseError(ec)) {
    Write(Response::Error(400, "malformed request: " + ec.message()), true, false);
    return true;
  }
  if (ec) {
    Close();  // timeout, reset, or the peer closed mid-request
    return true;
  }
  return false;
}

void Session::OnRead(error_code ec, size_t bytes) {
  if (state_ == State::kClosed) return;
  if (AnswerReadError(ec)) return;
  Dispatch();
}

void Session::Dispatch() {
  bhttp::request<bhttp::string_body> message = parser_->release();
  version_ = message.version();
  keep_alive_ = message.keep_alive();
  const bool head = message.method() == bhttp::verb::head;

  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  const std::string_view origin = OriginForm(request.target);
  const size_t question = origin.find('?');
  std::optional<std::string> path = PercentDecode(origin.substr(0, question), false);
  if (path && path->empty() && origin != request.target) *path = "/";
  if (!path || path->empty() || path->front() != '/') {
    Write(Response::Error(400, "malformed request target"), true, false);
    return;
  }
  request.path = *std::move(path);
  if (question != std::string_view::npos) {
    request.query = ParseQuery(origin.substr(question + 1));
  }
  for (const auto& field : message) {
    request.headers.emplace(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  request.remote_address = remote_;

  state_ = State::kHandling;
  server_.handling().fetch_add(1);
  asio::post(server_.workers(), [self = shared_from_this(), request = std::move(request), head] {
    Response response = self->server_.Call(request);
    self->server_.handling().fetch_sub(1);
    asio::post(self->stream_.get_executor(),
               [self, response = std::move(response), head]() mutable {
                 if (self->state_ == State::kClosed) return;
                 self->Write(std::move(response), false, head);
               });
  });
}

void Session::Write(Response response, bool close, bool head) {
  state_ = State::kWriting;
  SetActive(true);
  if (response.status < 100 || response.status > 999) {
    server_.LogError("handler returned an invalid status", {{"status", response.status}});
    response = Response::Error(500, "internal error");
  }
  const bool keep_alive = !close && keep_alive_ && !server_.stopping();
  response_.emplace();
  bhttp::response<bhttp::string_body>& out = *response_;
  out.version(version_ == 10 ? 10 : 11);
  out.result(static_cast<unsigned>(response.status));
  for (const auto& [name, value] : response.headers) {
    if (HasCrLf(name) || HasCrLf(value) || name.empty()) continue;
    const bhttp::field f = bhttp::string_to_field(name);
    if (f == bhttp::field::content_length || f == bhttp::field::transfer_encoding ||
        f == bhttp::field::connection) {
      continue;  // framing is ours
    }
    out.insert(name, value);
  }
  const int s = response.status;
  const bool no_body = (s >= 100 && s < 200) || s == 204 || s == 304;
  if (!no_body) {
    out.content_length(response.body.size());
    if (!head) out.body() = std::move(response.body);
  }
  out.set(bhttp::field::date, server_.Date());
  out.keep_alive(keep_alive);
  stream_.expires_after(server_.options().read_timeout);
  bhttp::async_write(stream_, out,
                     beast::bind_front_handler(&Session::OnWrite, shared_from_this(), keep_alive,
                                               close));
}

void Session::OnWrite(bool keep_alive, bool linger, error_code ec, size_t bytes) {
  if (ec || state_ == State::kClosed) {
    Close();
    return;
  }
  if (!keep_alive) {
    if (linger) {
      Linger();
    } else {
      Close();
    }
    return;
  }
  DoRead();
}

void Session::Linger() {
  state_ = State::kLingering;
  SetActive(false);
  error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.expires_after(kLingerTime);
  stream_.async_read_some(asio::buffer(drain_),
                          beast::bind_front_handler(&Session::OnLinger, shared_from_this()));
}

void Session::OnLinger(error_code ec, size_t bytes) {
  lingered_ += bytes;
  if (ec || state_ == State::kClosed || lingered_ > kLingerBytes) {
    Close();
    return;
  }
  stream_.async_read_some(asio::buffer(drain_),
                          beast::bind_front_handler(&Session::OnLinger, shared_from_this()));
}

void Session::Close() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  SetActive(false);
  error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler) {
  auto server = std::make_unique<ServerImpl>(std::move(options), std::move(handler));
  HUT_RETURN_IF_ERROR(server->Listen());
  server->Run();
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace hut::http
