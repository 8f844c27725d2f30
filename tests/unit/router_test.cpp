#include "api/rest/router.h"

#include <gtest/gtest.h>

namespace aifgen::api {
namespace {

TEST(Router, MatchesTemplatesAndTellsMethodFromPathMisses) {
  Router r;
  r.add("GET", "/v1/jobs/{id}", [](RequestContext&) {});
  r.add("POST", "/v1/jobs/{id}/cancel", [](RequestContext&) {});
  auto m = r.match("GET", "/v1/jobs/job_1");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params["id"], "job_1");
  auto wrong_method = r.match("DELETE", "/v1/jobs/job_1");
  EXPECT_EQ(wrong_method.route, nullptr);
  EXPECT_TRUE(wrong_method.path_known);
  auto unknown = r.match("GET", "/v1/jobs/job_1/nope");
  EXPECT_EQ(unknown.route, nullptr);
  EXPECT_FALSE(unknown.path_known);
  EXPECT_NE(r.match("POST", "/v1/jobs/x/cancel").route, nullptr);
}

}  // namespace
}  // namespace aifgen::api
