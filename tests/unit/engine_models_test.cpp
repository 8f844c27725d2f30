// The engine on the shared models: outputs match ONNX Runtime's stored reference outputs
// within 1e-4 of each output's largest magnitude.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/engine/npy.h"
#include "core/engine/session.h"
#include "core/onnx_model.h"

namespace aifgen::engine {
namespace {

struct Case {
  const char* model;
  const char* input_name;
  const char* output_file;
  // Allowed max abs error relative to the output's max magnitude.
  float tolerance = 1e-4f;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.model; }

class EngineModels : public ::testing::TestWithParam<Case> {};

TEST_P(EngineModels, MatchesOnnxRuntimeReference) {
  const auto c = GetParam();
  const std::string dir = std::string(AIFGEN_SHARED_DIR) + "/models/";
  auto proto = load_model_file(dir + c.model + ".onnx");
  auto input = read_npy(dir + "refs/" + c.model + "/input_" + c.input_name + ".npy");
  auto expected = read_npy(dir + "refs/" + c.model + "/output_" + c.output_file + ".npy");
  SessionOptions opts;
  opts.threads = 2;
  opts.input_shapes[c.input_name] = input.shape;
  Session session(proto, opts);
  auto out = session.run({input});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].shape, expected.shape);
  ASSERT_EQ(out[0].dtype, DType::kF32);
  const float* got = out[0].as<float>();
  const float* want = expected.as<float>();
  float max_mag = 0, max_err = 0;
  for (std::int64_t i = 0; i < expected.numel(); ++i) max_mag = std::max(max_mag, std::abs(want[i]));
  for (std::int64_t i = 0; i < expected.numel(); ++i) max_err = std::max(max_err, std::abs(got[i] - want[i]));
  EXPECT_LE(max_err, c.tolerance * max_mag) << c.model << ": max abs error " << max_err << " vs max magnitude " << max_mag;
}

INSTANTIATE_TEST_SUITE_P(Shared, EngineModels,
                         ::testing::Values(Case{"mobilenet_v2", "input", "output"},
                                           Case{"transformer_encoder", "input_ids", "output"},
                                           // On this random input the det output is a sigmoid of logits
                                           // down to about -2000 and tops out at 3e-4, so float32
                                           // rounding upstream shows through: ONNX Runtime with all
                                           // optimizations differs from its own reference by 6.0e-4
                                           // of the max (measured); every intermediate tensor of
                                           // aifgen's run matches ONNX Runtime's within 1e-6.
                                           Case{"ch_PP-OCRv4_det_infer", "x", "sigmoid_0.tmp_0", 1e-3f},
                                           Case{"ch_PP-OCRv4_rec_infer", "x", "softmax_11.tmp_0"},
                                           Case{"ch_ppocr_mobile_v2.0_cls_infer", "x", "softmax_0.tmp_0"}),
                         [](const auto& info) {
                           std::string n = info.param.model;
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace aifgen::engine
