#include "targets/registry.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace aifgen {
namespace {

TEST(Registry, ExpandsMissingPrecisionsToAllOfTheTarget) {
  auto pairs = expand_requests({"x86_64-cpu"}, {});
  ASSERT_FALSE(pairs.empty());
  for (const auto& [t, p] : pairs) EXPECT_EQ(t, "x86_64-cpu");
  EXPECT_EQ(pairs.size(), find_target("x86_64-cpu")->descriptor().precisions.size());
}

TEST(Registry, UnknownTargetOrPrecisionListsTheValidPairs) {
  for (auto [targets, precisions] : std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>>{
           {{"quantum-cpu"}, {"fp32"}}, {{"x86_64-cpu"}, {"fp7"}}}) {
    try {
      expand_requests(targets, precisions);
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.type(), "unsupported-target-precision");
      EXPECT_NE(std::find(e.allowed().begin(), e.allowed().end(), "x86_64-cpu/fp32"), e.allowed().end());
    }
  }
}

TEST(Registry, DuplicatesCollapse) {
  EXPECT_EQ(expand_requests({"x86_64-cpu", "x86_64-cpu"}, {"fp32", "fp32"}).size(), 1u);
}

}  // namespace
}  // namespace aifgen
