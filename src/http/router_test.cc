#include "src/http/router.h"

#include <gtest/gtest.h>

namespace hut::http {
namespace {

Request Make(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.target = path;
  r.path = std::move(path);
  return r;
}

Handler Named(std::string name) {
  return [name](const Request& r) {
    nlohmann::json params = r.path_params;
    return Response::Json(200, {{"route", name}, {"params", params}});
  };
}

nlohmann::json Body(const Response& r) { return nlohmann::json::parse(r.body); }

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router_.Add("GET", "/", Named("root"));
    router_.Add("GET", "/healthz", Named("healthz"));
    router_.Add("GET", "/pages", Named("list"));
    router_.Add("POST", "/pages", Named("create"));
    router_.Add("GET", "/pages/{id}", Named("get"));
    router_.Add("GET", "/pages/search", Named("search"));
    router_.Add("DELETE", "/pages/{id}", Named("delete"));
    router_.Add("GET", "/users/{user}/pages/{id}", Named("user-page"));
  }
  Router router_;
};

TEST_F(RouterTest, LiteralAndParamRoutes) {
  EXPECT_EQ(Body(router_.Handle(Make("GET", "/")))["route"], "root");
  EXPECT_EQ(Body(router_.Handle(Make("GET", "/healthz")))["route"], "healthz");
  EXPECT_EQ(Body(router_.Handle(Make("POST", "/pages")))["route"], "create");
  Response r = router_.Handle(Make("GET", "/pages/42"));
  EXPECT_EQ(Body(r)["route"], "get");
  EXPECT_EQ(Body(r)["params"], (nlohmann::json{{"id", "42"}}));
  r = router_.Handle(Make("GET", "/users/ada/pages/7"));
  EXPECT_EQ(Body(r)["params"], (nlohmann::json{{"id", "7"}, {"user", "ada"}}));
}

TEST_F(RouterTest, LiteralSegmentBeatsParameter) {
  EXPECT_EQ(Body(router_.Handle(Make("GET", "/pages/search")))["route"], "search");
  EXPECT_EQ(router_.RouteOf(Make("GET", "/pages/search")), "/pages/search");
}

TEST_F(RouterTest, UnknownPathIs404Json) {
  for (const char* path : {"/nope", "/pages/1/2", "/healthz/", "/pages/", "//", ""}) {
    Response r = router_.Handle(Make("GET", path));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(Body(r)["error"]["code"], 404) << path;
    EXPECT_EQ(router_.RouteOf(Make("GET", path)), "") << path;
  }
}

TEST_F(RouterTest, KnownPathOtherMethodIs405WithAllow) {
  Response r = router_.Handle(Make("PUT", "/pages/9"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Body(r)["error"]["code"], 405);
  EXPECT_EQ(r.Header("Allow"), "DELETE, GET, HEAD");
  r = router_.Handle(Make("DELETE", "/pages"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow"), "GET, HEAD, POST");
  EXPECT_EQ(router_.RouteOf(Make("PUT", "/pages/9")), "");
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  Response r = router_.Handle(Make("HEAD", "/pages/5"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["route"], "get");
  EXPECT_EQ(router_.RouteOf(Make("HEAD", "/pages/5")), "/pages/{id}");
}

TEST_F(RouterTest, RouteOfGivesPattern) {
  EXPECT_EQ(router_.RouteOf(Make("GET", "/pages/123")), "/pages/{id}");
  EXPECT_EQ(router_.RouteOf(Make("POST", "/pages")), "/pages");
  EXPECT_EQ(router_.RouteOf(Make("GET", "/users/x/pages/y")), "/users/{user}/pages/{id}");
}

TEST(RouterTrailingSlashTest, SlashIsDistinct) {
  Router router;
  router.Add("GET", "/x", Named("x"));
  router.Add("GET", "/y/", Named("y"));
  EXPECT_EQ(router.Handle(Make("GET", "/x")).status, 200);
  EXPECT_EQ(router.Handle(Make("GET", "/x/")).status, 404);
  EXPECT_EQ(router.Handle(Make("GET", "/y/")).status, 200);
  EXPECT_EQ(router.Handle(Make("GET", "/y")).status, 404);
}

TEST(RouterEmptyParamTest, ParameterNeedsAValue) {
  Router router;
  router.Add("GET", "/p/{id}/edit", Named("edit"));
  EXPECT_EQ(router.Handle(Make("GET", "/p//edit")).status, 404);
}

}  // namespace
}  // namespace hut::http
