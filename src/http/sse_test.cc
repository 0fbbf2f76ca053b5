#include "src/http/sse.h"

#include <gtest/gtest.h>

namespace hut::http {
namespace {

using namespace std::string_view_literals;
using Events = std::vector<SseEvent>;

SseEvent Event(std::string event, std::string id, std::string data) {
  return SseEvent{.event = std::move(event), .id = std::move(id), .data = std::move(data)};
}

// Feeds `text` in one piece and returns the events.
Events ParseAll(std::string_view text) {
  SseParser parser;
  absl::StatusOr<Events> events = parser.Feed(text);
  EXPECT_TRUE(events.ok()) << events.status();
  return events.ok() ? *events : Events{};
}

// Feeds `text` in pieces cut at `cuts` (ascending positions).
Events ParseInPieces(std::string_view text, const std::vector<size_t>& cuts) {
  SseParser parser;
  Events all;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(text.size());
  for (size_t to : ends) {
    absl::StatusOr<Events> events = parser.Feed(text.substr(from, to - from));
    EXPECT_TRUE(events.ok()) << events.status();
    if (events.ok()) all.insert(all.end(), events->begin(), events->end());
    from = to;
  }
  return all;
}

TEST(SseParserTest, SimpleEvent) {
  EXPECT_EQ(ParseAll("data: hello\n\n"), Events{Event("message", "", "hello")});
}

TEST(SseParserTest, EventIdAndMultiLineData) {
  EXPECT_EQ(ParseAll("event: progress\nid: 7\ndata: line one\ndata: line two\n\n"),
            Events{Event("progress", "7", "line one\nline two")});
}

TEST(SseParserTest, LineEndingsCrLfCrAndLf) {
  const Events want{Event("a", "1", "x\ny"), Event("message", "1", "z")};
  EXPECT_EQ(ParseAll("event: a\r\nid: 1\r\ndata: x\r\ndata: y\r\n\r\ndata: z\r\n\r\n"), want);
  EXPECT_EQ(ParseAll("event: a\rid: 1\rdata: x\rdata: y\r\rdata: z\r\r"), want);
  EXPECT_EQ(ParseAll("event: a\nid: 1\r\ndata: x\rdata: y\n\r\ndata: z\n\r"), want);
}

TEST(SseParserTest, CommentsAreIgnored) {
  EXPECT_EQ(ParseAll(": keepalive\n\n:another\ndata: d\n: inside an event\n\n"),
            Events{Event("message", "", "d")});
  EXPECT_EQ(ParseAll(kSseKeepalive), Events{});
}

TEST(SseParserTest, FieldValues) {
  // No space after the colon; only one space is removed; no colon at all.
  EXPECT_EQ(ParseAll("data:x\n\n"), Events{Event("message", "", "x")});
  EXPECT_EQ(ParseAll("data:  two spaces\n\n"), Events{Event("message", "", " two spaces")});
  EXPECT_EQ(ParseAll("data\n\n"), Events{Event("message", "", "")});
  EXPECT_EQ(ParseAll("data:a:b\n\n"), Events{Event("message", "", "a:b")});
  EXPECT_EQ(ParseAll("data: \ndata:\n\n"), Events{Event("message", "", "\n")});
  // Unknown fields and field names differing in case are ignored.
  EXPECT_EQ(ParseAll("foo: bar\nData: no\ndata: yes\n\n"), Events{Event("message", "", "yes")});
}

TEST(SseParserTest, EventWithoutDataIsNotDispatchedAndResetsType) {
  EXPECT_EQ(ParseAll("event: lonely\n\ndata: next\n\n"), Events{Event("message", "", "next")});
}

TEST(SseParserTest, IdPersistsAcrossEvents) {
  SseParser parser;
  absl::StatusOr<Events> events =
      parser.Feed("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: bad\0id\ndata: d\n\n"sv);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_EQ(*events, (Events{Event("message", "1", "a"), Event("message", "1", "b"),
                             Event("message", "", "c"), Event("message", "", "d")}));
  ASSERT_TRUE(parser.Feed("id: 42\n").ok());
  EXPECT_EQ(parser.last_event_id(), "42");  // set even before the event is dispatched
}

TEST(SseParserTest, Retry) {
  SseParser parser;
  ASSERT_TRUE(parser.Feed("retry: 1500\n\n").ok());
  EXPECT_EQ(parser.retry_ms(), 1500);
  ASSERT_TRUE(parser.Feed("retry: 12a\nretry: -5\nretry:\nretry: 99999999999999999999999\n").ok());
  EXPECT_EQ(parser.retry_ms(), 1500);
}

TEST(SseParserTest, ByteOrderMarkIsSkipped) {
  const std::string bom = "\xEF\xBB\xBF";
  EXPECT_EQ(ParseAll(bom + "data: x\n\n"), Events{Event("message", "", "x")});
  EXPECT_EQ(ParseInPieces(bom + "data: x\n\n", {1, 2}), Events{Event("message", "", "x")});
  // A short first feed that is not a BOM is kept.
  EXPECT_EQ(ParseInPieces("data: y\n\n", {2}), Events{Event("message", "", "y")});
  // Only at the very start: later, it is part of a field name ("\xEF\xBB\xBFdata").
  EXPECT_EQ(ParseAll("data: a\n\n" + bom + "data: b\n\n"), Events{Event("message", "", "a")});
}

TEST(SseParserTest, UnfinishedEventIsNotDispatched) {
  EXPECT_EQ(ParseAll("data: a\n\ndata: b\n"), Events{Event("message", "", "a")});
  EXPECT_EQ(ParseAll("data: a\n\ndata: b"), Events{Event("message", "", "a")});
}

TEST(SseParserTest, SplitAtEveryPositionGivesTheSameEvents) {
  const std::string text =
      "\xEF\xBB\xBF: hello\r\n"
      "event: progress\r\nid: r-1\r\ndata: {\"step\": 1}\r\ndata: second\r\n\r\n"
      "data:no-space\rdata: cr\r\r"
      ":keepalive\n\n"
      "event: done\nid: r-2\ndata\n\n";
  const Events want{Event("progress", "r-1", "{\"step\": 1}\nsecond"),
                    Event("message", "r-1", "no-space\ncr"), Event("done", "r-2", "")};
  ASSERT_EQ(ParseAll(text), want);
  for (size_t i = 0; i <= text.size(); ++i) {
    EXPECT_EQ(ParseInPieces(text, {i}), want) << "split at " << i;
    for (size_t j = i; j <= text.size(); j += 7) {
      EXPECT_EQ(ParseInPieces(text, {i, j}), want) << "split at " << i << " and " << j;
    }
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < text.size(); ++i) every_byte.push_back(i);
  EXPECT_EQ(ParseInPieces(text, every_byte), want);
}

TEST(SseParserTest, OversizedEventFails) {
  SseParser parser(/*max_event_bytes=*/100);
  ASSERT_TRUE(parser.Feed("data: " + std::string(50, 'a') + "\n").ok());
  absl::StatusOr<Events> events = parser.Feed(std::string(60, 'b'));
  EXPECT_EQ(events.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(parser.Feed("\n\n").status().code(), absl::StatusCode::kResourceExhausted);
  // Many small events are fine: the bound is per event.
  SseParser many(100);
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<Events> one = many.Feed("data: " + std::string(50, 'c') + "\n\n");
    ASSERT_TRUE(one.ok()) << one.status();
    ASSERT_EQ(one->size(), 1u);
  }
}

TEST(FormatSseEventTest, Format) {
  EXPECT_EQ(FormatSseEvent("progress", "7", "a\nb"),
            "event: progress\nid: 7\ndata: a\ndata: b\n\n");
  EXPECT_EQ(FormatSseEvent("", "", "x"), "data: x\n\n");
  EXPECT_EQ(FormatSseEvent("", "", ""), "data: \n\n");
  EXPECT_EQ(FormatSseEvent("", "", "a\r\nb\rc"), "data: a\ndata: b\ndata: c\n\n");
  // Newlines in event and id would end the field early: dropped.
  EXPECT_EQ(FormatSseEvent("a\nevent: b", "1\r\n2", "x"), "event: aevent: b\nid: 12\ndata: x\n\n");
  EXPECT_EQ(FormatSseComment("keepalive"), kSseKeepalive);
  EXPECT_EQ(FormatSseComment("a\nb"), ": a\n: b\n\n");
}

TEST(FormatSseEventTest, RoundTripsThroughParser) {
  struct Case {
    std::string event, id, data;
  };
  const std::vector<Case> cases = {
      {"progress", "1", R"({"rollout":"web","step":3,"weight":25})"},
      {"", "", "plain"},
      {"multi", "2", "first\nsecond\n\nfourth"},
      {"edges", "3", "\nleading and trailing newline\n"},
      {"spaces", "4", " one leading space"},
      {"colons", "5", "data: looks like a field"},
      {"empty", "6", ""},
      {"comment-like", "7", ": not a comment"},
  };
  std::string stream;
  Events want;
  std::string last_id;
  for (const Case& c : cases) {
    stream += FormatSseEvent(c.event, c.id, c.data);
    stream += kSseKeepalive;
    if (!c.id.empty()) last_id = c.id;  // no id line: the last id stays
    want.push_back(Event(c.event.empty() ? "message" : c.event, last_id, c.data));
  }
  EXPECT_EQ(ParseAll(stream), want);
  // \r\n and \r in data come back as \n.
  EXPECT_EQ(ParseAll(FormatSseEvent("e", "", "a\r\nb\rc")), Events{Event("e", "", "a\nb\nc")});
}

TEST(SseResponseTest, Headers) {
  Response r = SseResponse([](StreamWriter&) {});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "text/event-stream");
  EXPECT_EQ(r.Header("Cache-Control"), "no-cache");
  EXPECT_TRUE(static_cast<bool>(r.stream));
}

}  // namespace
}  // namespace hut::http
