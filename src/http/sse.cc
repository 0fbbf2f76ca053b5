#include "src/http/sse.h"

#include <charconv>
#include <ostream>

namespace hut::http {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// Removes the characters that would end a field early.
std::string FieldValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
  }
  return out;
}

// Calls `line` for each line of `text`, split at \r\n, \n and \r.
template <typename F>
void ForEachLine(std::string_view text, F line) {
  while (true) {
    const size_t eol = text.find_first_of("\r\n");
    if (eol == std::string_view::npos) {
      line(text);
      return;
    }
    line(text.substr(0, eol));
    const size_t next = text.compare(eol, 2, "\r\n") == 0 ? eol + 2 : eol + 1;
    text.remove_prefix(next);
  }
}

}  // namespace

std::string FormatSseEvent(std::string_view event, std::string_view id, std::string_view data) {
  std::string out;
  out.reserve(event.size() + id.size() + data.size() + 32);
  if (!event.empty()) out += "event: " + FieldValue(event) + "\n";
  if (!id.empty()) out += "id: " + FieldValue(id) + "\n";
  ForEachLine(data, [&out](std::string_view line) {
    out += "data: ";
    out += line;
    out += "\n";
  });
  out += "\n";
  return out;
}

std::string FormatSseComment(std::string_view text) {
  std::string out;
  ForEachLine(text, [&out](std::string_view line) {
    out += ": ";
    out += line;
    out += "\n";
  });
  out += "\n";
  return out;
}

Response SseResponse(StreamBody body) {
  Response r = Response::Stream(200, "text/event-stream", std::move(body));
  r.SetHeader("X-Accel-Buffering", "no");
  return r;
}

std::ostream& operator<<(std::ostream& os, const SseEvent& e) {
  return os << "{event: \"" << e.event << "\", id: \"" << e.id << "\", data: \"" << e.data << "\"}";
}

absl::StatusOr<std::vector<SseEvent>> SseParser::Feed(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  std::vector<SseEvent> out;
  std::string head;  // owns `bytes` when the first bytes were held back
  if (!started_) {
    head_.append(bytes);
    if (head_.size() < kBom.size() && kBom.starts_with(head_)) return out;  // maybe a BOM yet
    started_ = true;
    head = std::move(head_);
    head_.clear();
    bytes = head;
    if (bytes.starts_with(kBom)) bytes.remove_prefix(kBom.size());
  }
  while (!bytes.empty()) {
    if (after_cr_) {
      after_cr_ = false;
      if (bytes.front() == '\n') {  // the \n of a \r\n split across feeds
        bytes.remove_prefix(1);
        continue;
      }
    }
    const size_t eol = bytes.find_first_of("\r\n");
    if (eol == std::string_view::npos) {
      line_.append(bytes);
      bytes = {};
    } else {
      line_.append(bytes.substr(0, eol));
      if (bytes[eol] == '\r') {
        if (eol + 1 < bytes.size() && bytes[eol + 1] == '\n') {
          bytes.remove_prefix(eol + 2);
        } else {
          after_cr_ = true;  // a \n may follow in the next feed
          bytes.remove_prefix(eol + 1);
        }
      } else {
        bytes.remove_prefix(eol + 1);
      }
      ProcessLine(line_, out);
      line_.clear();
    }
    if (line_.size() + data_.size() + event_.size() > max_event_bytes_) {
      failed_ = absl::ResourceExhaustedError("server-sent event larger than " +
                                             std::to_string(max_event_bytes_) + " bytes");
      return failed_;
    }
  }
  return out;
}

void SseParser::ProcessLine(std::string_view line, std::vector<SseEvent>& out) {
  if (line.empty()) {  // dispatch
    if (!data_.empty()) {
      data_.pop_back();  // the "\n" after the last data line
      out.push_back(SseEvent{.event = event_.empty() ? "message" : event_,
                             .id = last_event_id_,
                             .data = std::move(data_)});
    }
    data_.clear();
    event_.clear();
    return;
  }
  if (line.front() == ':') return;  // comment
  const size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
  }
  if (field == "event") {
    event_ = std::string(value);
  } else if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_event_id_ = std::string(value);
  } else if (field == "retry") {
    int64_t ms = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
    if (!value.empty() && ec == std::errc() && end == value.data() + value.size() &&
        value.front() != '-') {
      retry_ms_ = ms;
    }
  }
}

}  // namespace hut::http
