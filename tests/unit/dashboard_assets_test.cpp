// The dashboard's embedded files as the service serves them (api/rest/dashboard.h): every file
// the page refers to exists under its content-hashed name, that name's hash is the content's,
// the gzip encoding inflates back to the same bytes, and Accept-Encoding is read as RFC 9110 says.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "api/rest/content_encoding.h"
#include "api/rest/dashboard.h"
#include "core/base/sha256.h"
#include "tests/support/gunzip.h"

namespace aifgen::api {
namespace {

using testing::gunzip;

TEST(DashboardAssets, GzipInflatesBackToTheSameBytes) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "line " + std::to_string(i * 7919 % 1013) + "\n";
  const std::string gz = gzip_compress(text);
  EXPECT_LT(gz.size(), text.size() / 3);
  EXPECT_EQ(gunzip(gz), text);
  EXPECT_EQ(gunzip(gzip_compress("")), "");
}

TEST(DashboardAssets, AcceptEncodingIsReadWithQValues) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("gzip, deflate, br, zstd"));  // what Chromium sends
  EXPECT_TRUE(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("br, deflate"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0.000"));
  EXPECT_FALSE(accepts_gzip("*;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0, *"));  // the explicit entry wins over the wildcard
  EXPECT_TRUE(accepts_gzip("*;q=0, gzip"));
  EXPECT_FALSE(accepts_gzip("gzip;q=nonsense"));
  EXPECT_FALSE(accepts_gzip("xgzip, gzipx"));
}

TEST(DashboardAssets, EveryFileThePageRefersToIsServedUnderItsContentHash) {
  const DashboardAssets assets;
  const auto& index = assets.index();
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index.cache_control, "no-cache");
  EXPECT_EQ(gunzip(index.gzip), index.body);
  const std::regex ref(R"re((?:src|href)="/assets/([^"]+)")re");
  std::set<std::string> referenced;
  for (std::sregex_iterator it(index.body.begin(), index.body.end(), ref), end; it != end; ++it) referenced.insert((*it)[1]);
  ASSERT_GE(referenced.size(), 6u) << index.body;  // style sheet, Chart.js and the page's scripts
  bool chart = false;
  for (const auto& name : referenced) {
    const DashboardAsset* a = assets.find(name);
    ASSERT_NE(a, nullptr) << "index.html refers to /assets/" << name << ", which is not served";
    const std::regex hashed(R"re(^(.+)\.([0-9a-f]{12})(\.[a-z]+)$)re");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(name, m, hashed)) << name << " is not a content-hashed name";
    EXPECT_EQ(m[2].str(), Sha256::of(a->body).substr(0, 12)) << name;
    EXPECT_EQ(a->cache_control, "public, max-age=31536000, immutable") << name;
    EXPECT_EQ(gunzip(a->gzip), a->body) << name;
    const DashboardAsset* plain = assets.find(m[1].str() + m[3].str());
    ASSERT_NE(plain, nullptr) << name << " has no plain-named twin";
    EXPECT_EQ(plain->body, a->body);
    EXPECT_EQ(plain->cache_control, "no-cache");
    EXPECT_EQ(a->content_type, m[3].str() == ".css" ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8") << name;
    chart = chart || m[1].str() == "chart.min";
  }
  EXPECT_TRUE(chart) << "Chart.js is not embedded";
  EXPECT_EQ(assets.find("nope.js"), nullptr);
}

TEST(DashboardAssets, ThePageHasNoInlineScriptAndNoOtherHost) {
  // The Content-Security-Policy allows scripts from this origin only; an inline script or a URL
  // to any other host would be blocked in the browser, so neither may be in the page.
  const DashboardAssets assets;
  for (const auto& [name, a] : assets.all()) {
    if (name.find("chart.min") != std::string::npos) continue;  // the library's own comments name its site
    EXPECT_EQ(a.body.find("http://"), std::string::npos) << name;
    EXPECT_EQ(a.body.find("https://"), std::string::npos) << name;
  }
  const std::regex inline_script(R"re(<script(?![^>]*\bsrc=)[^>]*>)re");
  EXPECT_FALSE(std::regex_search(assets.index().body, inline_script)) << "index.html has an inline <script>";
  EXPECT_FALSE(std::regex_search(assets.index().body, std::regex(R"re(\son[a-z]+\s*=)re"))) << "index.html has an inline handler";
}

}  // namespace
}  // namespace aifgen::api
