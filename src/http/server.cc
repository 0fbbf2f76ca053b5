#include "src/http/server.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <future>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
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
constexpr std::chrono::seconds kReportEvery{5};

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

// The handler's headers onto a Beast message, except those that would break
// the framing (ours to set) or smuggle a line break.
template <typename Message>
void CopyHeaders(const Headers& headers, Message& out) {
  for (const auto& [name, value] : headers) {
    if (HasCrLf(name) || HasCrLf(value) || name.empty()) continue;
    const bhttp::field f = bhttp::string_to_field(name);
    if (f == bhttp::field::content_length || f == bhttp::field::transfer_encoding ||
        f == bhttp::field::connection) {
      continue;
    }
    out.insert(name, value);
  }
}

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

// Whether a handler's answer is sent as a stream: the body function runs only
// for a request and status that may have a body.
bool IsStreamed(const Response& response, bool head) {
  const int s = response.status;
  return response.stream && !head && s >= 200 && s <= 999 && s != 204 && s != 304;
}

class ServerImpl;
class StreamChannel;

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
  // Closes the connection if it is idle or still reading a request (an idle
  // keep-alive or a slow client), to make room for a new one. Posts to the
  // strand.
  void Evict();
  // For choosing whom to evict, from any thread: 2 idle, 1 reading a
  // request, 0 busy (handling, writing, streaming) or closed.
  int evictable() const { return evictable_.load(std::memory_order_relaxed); }
  // When the connection entered its current state (steady clock).
  std::chrono::steady_clock::time_point since() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(since_.load(std::memory_order_relaxed)));
  }

  // A streamed response, on the strand; posted by StreamChannel. BeginStream
  // writes the head, StreamWrite one piece, EndStream the end (after the body
  // function returned). Each write's completion is reported to the channel.
  void BeginStream(Response response, std::shared_ptr<StreamChannel> channel);
  void StreamWrite(std::string data);
  void EndStream(bool complete);
  asio::any_io_executor executor() { return stream_.get_executor(); }

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kLingering, kStreaming, kClosed };

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
  // On the worker thread, after the handler answered with a stream.
  void RunStream(const Request& request, Response response);
  void OnStreamWritten(error_code ec, size_t bytes);
  void OnStreamDrain(error_code ec, size_t bytes);
  void FinishStream();
  void Write(Response response, bool close, bool head);
  void OnWrite(bool keep_alive, bool linger, error_code ec, size_t bytes);
  void Linger();
  void OnLinger(error_code ec, size_t bytes);
  void Close();
  void SetActive(bool active);
  void SetState(State state);

  ServerImpl& server_;
  beast::tcp_stream stream_;
  std::string remote_;
  uint64_t id_ = 0;
  State state_ = State::kIdle;
  std::atomic<int> evictable_{2};  // mirrors state_ for other threads
  std::atomic<std::chrono::steady_clock::rep> since_{
      std::chrono::steady_clock::now().time_since_epoch().count()};
  bool active_ = false;  // counted in ServerImpl::active_
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  size_t lingered_ = 0;
  char drain_[kReadChunk];

  // A streamed response (state kStreaming).
  std::shared_ptr<StreamChannel> channel_;
  bool chunked_ = true;          // else close-delimited (HTTP/1.0)
  bool stream_busy_ = false;     // a write is in flight
  bool stream_broken_ = false;   // a write failed or the client left
  bool stream_ending_ = false;   // EndStream came; end once no write is in flight
  bool stream_complete_ = true;  // the body function returned normally
  std::optional<bhttp::response<bhttp::empty_body>> stream_head_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> stream_serializer_;
  std::string stream_out_;
};

// The StreamWriter a body function gets. The worker thread running the body
// posts each write to the session's strand and waits for it; the strand
// reports completion (Written); anyone may Close it: the strand when the
// client leaves or a write fails, Shutdown when the server stops.
class StreamChannel final : public StreamWriter,
                            public std::enable_shared_from_this<StreamChannel> {
 public:
  explicit StreamChannel(std::shared_ptr<Session> session) : session_(std::move(session)) {}

  bool Write(std::string_view chunk) override {
    if (chunk.empty()) return open();
    return Send([data = std::string(chunk)](Session& session) mutable {
      session.StreamWrite(std::move(data));
    });
  }

  bool open() const override {
    absl::MutexLock lock(&mu_);
    return !closed_;
  }

  void OnClose(std::function<void()> wake) override {
    {
      absl::MutexLock lock(&mu_);
      if (!closed_) {
        wake_ = std::move(wake);
        return;
      }
    }
    if (wake) wake();
  }

  // Worker: sends the response head, unless the stream is already closed.
  void Begin(Response response) {
    Send([response = std::move(response), self = shared_from_this()](Session& session) mutable {
      session.BeginStream(std::move(response), std::move(self));
    });
  }

  // Worker, once the body function has returned: no OnClose callback runs
  // after this; asks the strand to end the response.
  void Finish(bool complete) {
    {
      absl::MutexLock lock(&mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !waking_; };
      mu_.Await(absl::Condition(&woken));
      wake_ = nullptr;
    }
    std::shared_ptr<Session> session = std::move(session_);
    asio::post(session->executor(), [session, complete] { session->EndStream(complete); });
  }

  // Any thread: Write fails from now on; wakes a waiting Write and the body.
  void Close() {
    std::function<void()> wake;
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return;
      closed_ = true;
      if (!wake_) return;
      wake = std::move(wake_);
      wake_ = nullptr;
      waking_ = true;
    }
    wake();
    absl::MutexLock lock(&mu_);
    waking_ = false;
  }

  // Strand: the write Begin or Write asked for is done.
  void Written(bool ok) {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    if (!ok) Close();
  }

 private:
  // Posts `op` to the session's strand and waits until it reports Written
  // or the channel closes.
  template <typename Op>
  bool Send(Op op) {
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return false;
      writing_ = true;
    }
    asio::post(session_->executor(),
               [session = session_, op = std::move(op)]() mutable { op(*session); });
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !writing_ || closed_; };
    mu_.Await(absl::Condition(&done));
    return !closed_;
  }

  std::shared_ptr<Session> session_;  // until Finish; used by the worker only
  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool waking_ ABSL_GUARDED_BY(mu_) = false;  // Close is running wake_ outside the lock
  std::function<void()> wake_ ABSL_GUARDED_BY(mu_);
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
        workers_(static_cast<size_t>(std::max(options_.worker_threads, 1))),
        stream_limit_(std::max(0, std::min(options_.max_streams, options_.worker_threads - 1))) {}

  ~ServerImpl() override { Shutdown(std::chrono::milliseconds(0)); }

  absl::Status Listen() {
    const std::string where = options_.address + ":" + std::to_string(options_.port);
    if (options_.io_threads < 1 || options_.worker_threads < 1) {
      return absl::InvalidArgumentError("io_threads and worker_threads must be at least 1");
    }
    if (options_.max_streams < 0) {
      return absl::InvalidArgumentError("max_streams must not be negative");
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
  int open_streams() const override { return open_streams_.load(); }

  bool Shutdown(std::chrono::milliseconds grace) override {
    absl::MutexLock once(&shutdown_mu_);
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
    // Streams are told to end now: an endless one would otherwise take the
    // whole grace period.
    for (const std::shared_ptr<Session>& session : LiveSessions()) session->CloseIfIdle();
    for (const std::shared_ptr<StreamChannel>& channel : OpenStreams()) channel->Close();
    // 3. Let in-flight requests finish, within the grace period.
    bool clean;
    {
      absl::MutexLock lock(&mu_);
      auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_ == 0; };
      clean = mu_.AwaitWithTimeout(absl::Condition(&idle),
                                   absl::FromChrono(deadline - std::chrono::steady_clock::now()));
    }
    // 4. Stop I/O, cut what remains, then wait for running handlers.
    work_.reset();
    ioc_.stop();
    for (std::thread& t : io_threads_) t.join();
    io_threads_.clear();
    // A connection accepted just as the acceptor closed has its handler still
    // queued, holding the socket: run what is queued (each handler sees
    // stopping_), so that the socket closes now, not when the server is
    // destroyed.
    ioc_.restart();
    ioc_.poll();
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

  // Runs a stream's body function; true if it returned normally.
  bool CallBody(const Request& request, const StreamBody& body, StreamWriter& writer) noexcept {
    try {
      body(writer);
      return true;
    } catch (const std::exception& e) {
      Report("stream body threw", request, e.what());
    } catch (...) {
      Report("stream body threw", request, "unknown exception");
    }
    return false;
  }

  void LogError(std::string_view msg, const nlohmann::ordered_json& fields) {
    logger_.Error(msg, fields);
  }

  // A slot for a stream, or why there is none (the message of a 503).
  absl::StatusOr<std::shared_ptr<StreamChannel>> OpenStream(std::shared_ptr<Session> session,
                                                            const Request& request) {
    {
      absl::MutexLock lock(&mu_);
      // Checked under mu_: Shutdown sets stopping_ before it collects the
      // open streams under mu_, so every stream is either refused or closed.
      if (stopping_) return absl::UnavailableError("server is shutting down");
      if (streams_.size() < static_cast<size_t>(stream_limit_)) {
        auto channel = std::make_shared<StreamChannel>(std::move(session));
        streams_.insert(channel);
        open_streams_ = static_cast<int>(streams_.size());
        return channel;
      }
    }
    logger_.Warn(
        "stream refused: too many open streams",
        {{"limit", stream_limit_}, {"method", request.method}, {"target", request.target}});
    return absl::ResourceExhaustedError("too many open streams (limit " +
                                        std::to_string(stream_limit_) + ")");
  }

  void CloseStream(const std::shared_ptr<StreamChannel>& channel) {
    absl::MutexLock lock(&mu_);
    streams_.erase(channel);
    open_streams_ = static_cast<int>(streams_.size());
  }

  uint64_t Register(std::weak_ptr<Session> session) {
    absl::MutexLock lock(&mu_);
    const uint64_t id = ++next_id_;
    sessions_.emplace(id, std::move(session));
    return id;
  }
  void Unregister(uint64_t id) {
    absl::MutexLock lock(&mu_);
    sessions_.erase(id);
  }
  void AddActive(int delta) {
    absl::MutexLock lock(&mu_);
    active_ += delta;
  }

 private:
  void Report(std::string_view msg, const Request& request, std::string_view error) {
    logger_.Error(msg, {{"error", std::string(error)},
                        {"method", request.method},
                        {"target", request.target}});
  }

  std::vector<std::shared_ptr<Session>> LiveSessions() {
    std::vector<std::shared_ptr<Session>> out;
    absl::MutexLock lock(&mu_);
    for (auto& [id, weak] : sessions_) {
      if (std::shared_ptr<Session> s = weak.lock()) out.push_back(std::move(s));
    }
    return out;
  }

  std::vector<std::shared_ptr<StreamChannel>> OpenStreams() {
    absl::MutexLock lock(&mu_);
    return {streams_.begin(), streams_.end()};
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
      // Out of file descriptors, typically: wait a little rather than spin,
      // and say so once in a while rather than on every retry.
      ++accept_failures_;
      const auto now = std::chrono::steady_clock::now();
      if (now - last_accept_report_ >= kReportEvery) {
        logger_.Error("accept failed", {{"error", ec.message()}, {"failures", accept_failures_}});
        last_accept_report_ = now;
        accept_failures_ = 0;
      }
      accept_retry_.expires_after(kAcceptRetry);
      accept_retry_.async_wait([this](error_code ec) {
        if (!ec && !stopping_) Accept();
      });
      return;
    }
    if (!MakeRoom()) {
      error_code ignored;
      socket.close(ignored);  // every connection is busy: refuse this one
      Accept();
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<Session>(*this, std::move(socket))->Start();
    Accept();
  }

  // At max_connections, evicts the connection that has waited longest while
  // idle, else the one that has been reading its request longest; false when
  // every connection is busy. A flood of idle or slow connections so costs
  // the oldest of them, never the server's descriptors or a real client.
  bool MakeRoom() {
    // Sessions are locked into a list that outlives mu_: the last reference
    // to a session may be one of these, and its destructor takes mu_.
    std::vector<std::shared_ptr<Session>> alive;
    {
      absl::MutexLock lock(&mu_);
      if (options_.max_connections <= 0 ||
          sessions_.size() < static_cast<size_t>(options_.max_connections)) {
        return true;
      }
      alive.reserve(sessions_.size());
      for (auto& [id, weak] : sessions_) {
        if (std::shared_ptr<Session> s = weak.lock()) alive.push_back(std::move(s));
      }
    }
    const size_t live = alive.size();
    std::shared_ptr<Session> victim;
    int best_rank = 0;
    auto best_since = std::chrono::steady_clock::time_point::max();
    for (std::shared_ptr<Session>& s : alive) {
      const int rank = s->evictable();
      if (rank == 0) continue;
      const auto since = s->since();
      if (rank > best_rank || (rank == best_rank && since < best_since)) {
        best_rank = rank;
        best_since = since;
        victim = s;
      }
    }
    ++evictions_;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_eviction_report_ >= kReportEvery) {
      logger_.Warn(victim ? "connection limit reached: closing the oldest idle or slow connection"
                          : "connection limit reached and every connection busy: refusing",
                   {{"limit", options_.max_connections}, {"open", live},
                    {"since_last_report", evictions_}});
      last_eviction_report_ = now;
      evictions_ = 0;
    }
    if (!victim) return false;
    victim->Evict();
    return true;
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
  std::atomic<int> open_streams_{0};

  absl::Mutex mu_;
  // Connections reading, handling or writing a request.
  int active_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::weak_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  // Body function running.
  std::set<std::shared_ptr<StreamChannel>> streams_ ABSL_GUARDED_BY(mu_);

  absl::Mutex shutdown_mu_;
  std::optional<bool> shutdown_result_ ABSL_GUARDED_BY(shutdown_mu_);

  // Destroyed in reverse order: workers first, the io_context (and with it
  // the sessions its pending handlers own) last but before the state above.
  asio::io_context ioc_;
  asio::strand<asio::io_context::executor_type> accept_strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  // On accept_strand_: rate-limited reports of accept failures and evictions.
  int accept_failures_ = 0;
  int evictions_ = 0;
  std::chrono::steady_clock::time_point last_accept_report_{};
  std::chrono::steady_clock::time_point last_eviction_report_{};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> io_threads_;
  asio::thread_pool workers_;
  const int stream_limit_;
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

void Session::Evict() {
  evictable_.store(0, std::memory_order_relaxed);  // not chosen twice
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->state_ == State::kIdle || self->state_ == State::kReading) self->Close();
  });
}

void Session::SetState(State state) {
  state_ = state;
  const int rank = state == State::kIdle ? 2 : state == State::kReading ? 1 : 0;
  evictable_.store(rank, std::memory_order_relaxed);
  since_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
               std::memory_order_relaxed);
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
  SetState(State::kIdle);
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
  SetState(State::kReading);
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

  SetState(State::kHandling);
  server_.handling().fetch_add(1);
  asio::post(server_.workers(), [self = shared_from_this(), request = std::move(request), head] {
    Response response = self->server_.Call(request);
    if (IsStreamed(response, head)) {
      self->RunStream(request, std::move(response));
      self->server_.handling().fetch_sub(1);
      return;
    }
    self->server_.handling().fetch_sub(1);
    asio::post(self->stream_.get_executor(),
               [self, response = std::move(response), head]() mutable {
                 if (self->state_ == State::kClosed) return;
                 self->Write(std::move(response), false, head);
               });
  });
}

void Session::RunStream(const Request& request, Response response) {
  absl::StatusOr<std::shared_ptr<StreamChannel>> channel =
      server_.OpenStream(shared_from_this(), request);
  if (!channel.ok()) {
    asio::post(stream_.get_executor(),
               [self = shared_from_this(), message = std::string(channel.status().message())] {
                 if (self->state_ == State::kClosed) return;
                 self->Write(Response::Error(503, message), false, false);
               });
    return;
  }
  // The body runs even if the stream closed before it began (the client
  // left, or Shutdown): its writes then fail at once. So it runs exactly once
  // for every stream that got a slot.
  StreamBody body = std::move(response.stream);
  (*channel)->Begin(std::move(response));
  const bool complete = server_.CallBody(request, body, **channel);
  (*channel)->Finish(complete);
  server_.CloseStream(*channel);
}

void Session::BeginStream(Response response, std::shared_ptr<StreamChannel> channel) {
  channel_ = std::move(channel);
  if (state_ == State::kClosed) {
    channel_->Written(false);
    return;
  }
  SetState(State::kStreaming);
  chunked_ = version_ != 10;
  stream_head_.emplace();
  bhttp::response<bhttp::empty_body>& head = *stream_head_;
  head.version(version_ == 10 ? 10 : 11);
  head.result(static_cast<unsigned>(response.status));
  CopyHeaders(response.headers, head);
  head.set(bhttp::field::date, server_.Date());
  head.keep_alive(false);  // the stream's end is the connection's end
  if (chunked_) head.chunked(true);
  stream_serializer_.emplace(head);
  stream_busy_ = true;
  stream_.expires_after(server_.options().read_timeout);
  bhttp::async_write_header(
      stream_, *stream_serializer_,
      beast::bind_front_handler(&Session::OnStreamWritten, shared_from_this()));
  // The client sends nothing more; a read that ends tells us it has gone
  // (otherwise only the next write would). On the bare socket, so that no
  // timeout applies to it.
  stream_.socket().async_read_some(
      asio::buffer(drain_), beast::bind_front_handler(&Session::OnStreamDrain, shared_from_this()));
}

void Session::StreamWrite(std::string data) {
  if (state_ != State::kStreaming || stream_broken_) {
    channel_->Written(false);
    return;
  }
  stream_out_ = std::move(data);
  stream_busy_ = true;
  stream_.expires_after(server_.options().read_timeout);
  auto done = beast::bind_front_handler(&Session::OnStreamWritten, shared_from_this());
  if (chunked_) {
    asio::async_write(stream_, bhttp::make_chunk(asio::buffer(stream_out_)), std::move(done));
  } else {
    asio::async_write(stream_, asio::buffer(stream_out_), std::move(done));
  }
}

void Session::OnStreamWritten(error_code ec, size_t bytes) {
  stream_busy_ = false;
  if (ec) stream_broken_ = true;
  channel_->Written(!ec && state_ == State::kStreaming);
  if (stream_ending_) FinishStream();
}

void Session::OnStreamDrain(error_code ec, size_t bytes) {
  if (state_ != State::kStreaming) return;
  if (ec) {
    // EOF, reset, or the socket closed after a write timed out.
    stream_broken_ = true;
    channel_->Close();
    return;
  }
  stream_.socket().async_read_some(
      asio::buffer(drain_), beast::bind_front_handler(&Session::OnStreamDrain, shared_from_this()));
}

void Session::EndStream(bool complete) {
  if (state_ == State::kClosed) return;
  if (state_ != State::kStreaming) {
    // Shutdown closed the stream before its head went out.
    Write(Response::Error(503, "server is shutting down"), true, false);
    return;
  }
  stream_ending_ = true;
  stream_complete_ = complete;
  if (!stream_busy_) FinishStream();
}

void Session::FinishStream() {
  if (state_ != State::kStreaming) return;
  if (!chunked_ || !stream_complete_ || stream_broken_) {
    Close();  // close-delimited: closing is the end; else the client sees it cut
    return;
  }
  SetState(State::kWriting);
  stream_.expires_after(server_.options().read_timeout);
  asio::async_write(stream_, bhttp::make_chunk_last(),
                    [self = shared_from_this()](error_code, size_t) { self->Close(); });
}

void Session::Write(Response response, bool close, bool head) {
  SetState(State::kWriting);
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
  CopyHeaders(response.headers, out);
  const int s = response.status;
  const bool no_body = (s >= 100 && s < 200) || s == 204 || s == 304;
  if (!no_body && !response.stream) {  // a stream's length is unknown
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
  SetState(State::kLingering);
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
  SetState(State::kClosed);
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
