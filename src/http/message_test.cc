#include "src/http/message.h"

#include <gtest/gtest.h>

namespace hut::http {
namespace {

TEST(HeadersTest, NamesCompareCaseInsensitively) {
  Headers headers{{"Content-Type", "text/plain"}, {"X-Multi", "a"}, {"x-multi", "b"}};
  EXPECT_EQ(headers.count("content-type"), 1u);
  EXPECT_EQ(headers.count("X-MULTI"), 2u);
  Request r;
  r.headers = headers;
  EXPECT_EQ(r.Header("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(r.Header("x-multi"), "a");
  EXPECT_EQ(r.Header("missing"), std::nullopt);
}

TEST(ResponseTest, JsonSetsContentType) {
  Response r = Response::Json(201, {{"id", 7}});
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(r.body), (nlohmann::json{{"id", 7}}));
}

TEST(ResponseTest, ErrorBodyFormat) {
  Response r = Response::Error(404, "no such page");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(nlohmann::json::parse(r.body),
            (nlohmann::json{{"error", {{"code", 404}, {"message", "no such page"}}}}));
}

TEST(ResponseTest, ErrorWithInvalidUtf8DoesNotThrow) {
  Response r = Response::Error(400, std::string("bad \xff byte"));
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(nlohmann::json::parse(r.body, nullptr, false).is_discarded());
}

TEST(ResponseTest, TextAndSetHeaderReplaces) {
  Response r = Response::Text(200, "hi");
  EXPECT_EQ(r.Header("Content-Type"), "text/plain; charset=utf-8");
  r.SetHeader("content-type", "text/html");
  EXPECT_EQ(r.headers.count("Content-Type"), 1u);
  EXPECT_EQ(r.Header("Content-Type"), "text/html");
  EXPECT_EQ(r.body, "hi");
}

TEST(PercentEncodeTest, KeepsOnlyUnreservedCharactersAndSlashesInPaths) {
  EXPECT_EQ(PercentEncode("a-Z_0.~", false), "a-Z_0.~");
  EXPECT_EQ(PercentEncode("app=foohut,tier in (a b)", false), "app%3Dfoohut%2Ctier%20in%20%28a%20b%29");
  EXPECT_EQ(PercentEncode("logs/day 1/é+", true), "logs/day%201/%C3%A9%2B");
  EXPECT_EQ(PercentEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(*PercentDecode(PercentEncode("x y/z=é", false), false), "x y/z=é");
}

TEST(PercentDecodeTest, Table) {
  struct Case {
    std::string in;
    bool plus_is_space;
    std::optional<std::string> want;
  };
  const Case cases[] = {
      {"abc", false, "abc"},
      {"a%20b", false, "a b"},
      {"a%2Fb", false, "a/b"},
      {"a%2fb", false, "a/b"},
      {"a+b", false, "a+b"},
      {"a+b", true, "a b"},
      {"%41%42", true, "AB"},
      {"%", false, std::nullopt},
      {"%4", false, std::nullopt},
      {"ab%", false, std::nullopt},
      {"%zz", false, std::nullopt},
      {"%g0", false, std::nullopt},
      {"", false, ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(PercentDecode(c.in, c.plus_is_space), c.want) << c.in;
  }
}

TEST(ParseQueryTest, SplitsDecodesAndSkipsMalformed) {
  std::map<std::string, std::string> q = ParseQuery("a=1&b=x%20y&c=&d&e=%zz&=v&&f=a+b&a=2");
  std::map<std::string, std::string> want{{"a", "2"}, {"b", "x y"}, {"c", ""}, {"d", ""},
                                          {"f", "a b"}};
  EXPECT_EQ(q, want);
  EXPECT_TRUE(ParseQuery("").empty());
}

}  // namespace
}  // namespace hut::http
