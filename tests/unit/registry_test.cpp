#include "targets/registry.h"

#include <gtest/gtest.h>

#include "core/base/error.h"

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

TEST(Registry, TheSixTargetsOfferTheirPrecisionsAndSchemes) {
  struct Want {
    const char* id;
    std::vector<std::string> precisions;
    const char* scheme;
  };
  const Want want[] = {{"x86_64-cpu", {"fp32", "int8"}, "u8s8"},
                       {"arm64-cpu", {"fp32", "fp16", "int8"}, "u8s8"},
                       {"nvidia-gpu", {"fp32", "fp16", "int8"}, "s8s8-symmetric"},
                       {"nvidia-jetson", {"fp16", "int8"}, "s8s8-symmetric"},
                       {"xilinx-alveo", {"int8"}, "pow2"},
                       {"xilinx-zynq", {"int8"}, "pow2"}};
  ASSERT_EQ(all_targets().size(), 6u);
  for (const auto& w : want) {
    const Target* t = find_target(w.id);
    ASSERT_TRUE(t) << w.id;
    EXPECT_EQ(t->descriptor().precisions, w.precisions) << w.id;
    EXPECT_EQ(t->descriptor().int8_scheme, w.scheme) << w.id;
    // The int8 pipeline quantizes with the target's scheme.
    bool found = false;
    for (const auto& p : t->pipeline("int8"))
      if (p.name == "quantize_int8") found = p.options.at("scheme") == w.scheme;
    EXPECT_TRUE(found) << w.id;
  }
  EXPECT_EQ(expand_requests({"x86_64-cpu", "arm64-cpu", "nvidia-gpu", "nvidia-jetson", "xilinx-alveo", "xilinx-zynq"}, {}).size(), 12u);
}

TEST(Registry, VerdictsFollowEachRuntimesOpTable) {
  const std::map<std::string, std::int64_t> census = {{"Conv", 5}, {"Relu", 5}, {"Det", 1}, {"Softmax", 1}};
  auto trt = find_target("nvidia-gpu")->assess(census);
  EXPECT_EQ(trt.verdict, "unsupported");
  EXPECT_EQ(trt.unsupported_ops, (std::map<std::string, std::int64_t>{{"Det", 1}}));
  auto dpu = find_target("xilinx-zynq")->assess(census);
  EXPECT_EQ(dpu.verdict, "partial");
  EXPECT_EQ(dpu.native_nodes, 10);
  EXPECT_EQ(dpu.fallback_nodes, 2);
  auto clean = find_target("nvidia-jetson")->assess({{"Conv", 2}, {"Relu", 2}});
  EXPECT_EQ(clean.verdict, "native");
  try {
    check_targets_can_run({"xilinx-alveo", "nvidia-gpu"}, census);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "target-cannot-run-model");
    EXPECT_EQ(e.allowed().size(), 1u);  // only nvidia-gpu is a problem; the DPU falls back
  }
}

}  // namespace
}  // namespace aifgen
