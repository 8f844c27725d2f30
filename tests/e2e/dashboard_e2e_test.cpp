// The dashboard as the running service serves it: the page and its assets with their types,
// caching, compression and security headers, open without an API key (the page asks for one and
// sends it to /v1 itself) while the API stays closed.

#include <regex>

#include "tests/e2e/fixture.h"
#include "tests/e2e/run_command.h"
#include "tests/support/gunzip.h"

namespace aifgen::e2e {
namespace {

using testing::gunzip;

using DashboardE2E = ServerTest;

TEST_F(DashboardE2E, ThePageAndItsAssetsComeWithTypesCachingAndCompression) {
  auto page = http().get("/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(page.header("cache-control"), "no-cache");
  EXPECT_EQ(page.header("x-content-type-options"), "nosniff");
  EXPECT_NE(page.header("content-security-policy").find("default-src 'none'"), std::string::npos);
  EXPECT_NE(page.header("content-security-policy").find("connect-src 'self'"), std::string::npos);
  EXPECT_EQ(page.header("content-encoding"), "");
  EXPECT_NE(page.body.find("<html"), std::string::npos);

  auto gz = http().get("/", {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_EQ(gz.status, 200);
  EXPECT_EQ(gz.header("content-encoding"), "gzip");
  EXPECT_EQ(gz.header("vary"), "Accept-Encoding");
  EXPECT_EQ(gunzip(gz.body), page.body);

  auto again = http().get("/", {{"If-None-Match", page.header("etag")}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());

  const std::regex script(R"re(<script defer src="/assets/([^"]+\.js)")re");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(page.body, m, script)) << page.body;
  auto js = http().get("/assets/" + m[1].str());
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.header("cache-control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(js.header("content-security-policy"), "");

  auto missing = http().get("/assets/no-such-file.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.problem_type(), "asset-not-found");
  EXPECT_EQ(http().get("/assets/index.html").status, 404) << "the page is served at / only";
  EXPECT_EQ(http().get("/assets/..%2Fopenapi.yaml").status, 404);
}

class DashboardWithKeysE2E : public ServerTest {
 protected:
  void SetUp() override {
    auto r = run_command(std::string(AIFGEN_BINARY) + " keys create --data-dir " + data_dir() + " --name dash --scope read");
    ASSERT_EQ(r.status, 0) << r.output;
    ServerTest::SetUp();
  }
};

TEST_F(DashboardWithKeysE2E, ThePageLoadsWithoutAKeyWhileTheApiStillAsksForOne) {
  auto page = http().get("/");
  ASSERT_EQ(page.status, 200);
  const std::regex asset(R"re((?:src|href)="(/assets/[^"]+)")re");
  int n = 0;
  for (std::sregex_iterator it(page.body.begin(), page.body.end(), asset), end; it != end; ++it, ++n)
    EXPECT_EQ(http().get((*it)[1]).status, 200) << (*it)[1];
  EXPECT_GE(n, 6);
  EXPECT_EQ(http().get("/v1/models").status, 401);
}

}  // namespace
}  // namespace aifgen::e2e
