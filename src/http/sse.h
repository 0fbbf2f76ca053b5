#ifndef HUT_HTTP_SSE_H_
#define HUT_HTTP_SSE_H_

// Server-sent events (WHATWG HTML, "Server-sent events"): formatting events
// for a streamed response and parsing them incrementally on the client side.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/http/message.h"

namespace hut::http {

// A keepalive for an idle event stream: a comment line, ignored by clients.
inline constexpr std::string_view kSseKeepalive = ": keepalive\n\n";

// One event as text/event-stream: "event: <event>\n" (left out when empty),
// "id: <id>\n" (left out when empty: the client keeps the last id), then one
// "data: " line per line of `data` (split at \r\n, \n and \r; an empty `data`
// still gives one empty data line, so that the event is dispatched), then a
// blank line. CR, LF and NUL in `event` and `id` would break the framing and
// are dropped.
std::string FormatSseEvent(std::string_view event, std::string_view id, std::string_view data);

// A comment (": <text>\n", one line per line of `text`) and a blank line.
std::string FormatSseComment(std::string_view text);

// A streamed 200 response with Content-Type: text/event-stream, Cache-Control:
// no-cache and X-Accel-Buffering: no (so that proxies pass events at once).
// `body` writes FormatSseEvent() and kSseKeepalive pieces.
Response SseResponse(StreamBody body);

struct SseEvent {
  std::string event = "message";  // the "event" field; "message" when absent
  std::string id;                 // the last event id seen so far in the stream
  std::string data;               // data lines joined with "\n"

  bool operator==(const SseEvent&) const = default;
};

// {event: "progress", id: "7", data: "..."}, for logs and test messages.
std::ostream& operator<<(std::ostream& os, const SseEvent& e);

// Parses a text/event-stream body fed in pieces of any size, as the WHATWG
// algorithm does: lines end in \r\n, \n or \r (also when split across
// feeds); a leading UTF-8 BOM is skipped; lines starting with ":" are
// comments; "field:value" drops one space after the colon, a line without a
// colon is a field with an empty value; "data" lines accumulate, a blank line
// dispatches the event if it has data; "id" (unless it contains NUL) persists
// across events; "retry" takes digits only; other fields are ignored. An event
// left unfinished when the stream ends is not dispatched. Not thread-safe.
class SseParser {
 public:
  // `max_event_bytes` bounds the memory an event (its lines and data) may
  // take, against a server that never ends a line.
  explicit SseParser(size_t max_event_bytes = 1 << 20) : max_event_bytes_(max_event_bytes) {}

  // The events completed by `bytes`, in order. ResourceExhausted once an
  // event grows past max_event_bytes; the parser then stays failed.
  absl::StatusOr<std::vector<SseEvent>> Feed(std::string_view bytes);

  // For a reconnect's Last-Event-ID header.
  const std::string& last_event_id() const { return last_event_id_; }
  // The last valid "retry" field, in milliseconds.
  std::optional<int64_t> retry_ms() const { return retry_ms_; }

 private:
  void ProcessLine(std::string_view line, std::vector<SseEvent>& out);

  size_t max_event_bytes_;
  bool started_ = false;   // past a possible BOM
  std::string head_;       // the first bytes, until they are known not to be a BOM
  bool after_cr_ = false;  // the last byte fed ended a line with \r
  std::string line_;       // the current line, unfinished
  std::string data_;       // data lines of the current event, each + "\n"
  std::string event_;      // the current event's type, "" if none
  std::string last_event_id_;
  std::optional<int64_t> retry_ms_;
  absl::Status failed_;
};

}  // namespace hut::http

#endif  // HUT_HTTP_SSE_H_
