// Transpose (layout_ops.cpp) against the definition walked here, bit for bit: permutations that
// move the input's contiguous axis (4096 elements or more run as a oneDNN reorder of 32-bit
// words, an 8-byte element as two), ones that keep it last (rows copied whole), axes of length 1
// and 0, and every element size, at 1 and 2 threads. The float values include a NaN with a
// payload and -0, which a copy must keep as they are.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>

#include "core/engine/evaluate.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

struct TransposeCase {
  Shape shape;
  std::vector<std::int64_t> perm;
};

const std::vector<TransposeCase> kCases = {
    {{1, 1, 300, 96}, {0, 1, 3, 2}},      // mvit's pooling transposes: a matrix transpose
    {{1, 2, 160, 96}, {0, 1, 3, 2}},      // a batch of two
    {{2, 3, 50, 40}, {0, 3, 1, 2}},       // NHWC -> NCHW style
    {{7, 9, 11, 13}, {3, 2, 1, 0}},       // every axis reversed
    {{1, 61, 3, 4, 24}, {0, 3, 2, 1, 4}},  // the last axis stays: whole rows
    {{64, 96}, {1, 0}},
    {{3, 4}, {1, 0}},                     // below the reorder's size: the row walk
    {{1, 1, 1}, {2, 0, 1}},               // one element
    {{0, 5, 3}, {2, 1, 0}},               // no elements
};

// The definition: output position o reads input position perm-mapped from o.
std::vector<std::byte> transpose_by_definition(const TransposeCase& c, const std::vector<std::byte>& in, std::size_t size) {
  const std::size_t rank = c.shape.size();
  Shape out(rank), in_strides(rank, 1);
  for (std::size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * c.shape[d];
  for (std::size_t d = 0; d < rank; ++d) out[d] = c.shape[static_cast<std::size_t>(c.perm[d])];
  std::vector<std::byte> result(in.size());
  std::vector<std::int64_t> coord(rank, 0);
  for (std::int64_t o = 0; o < numel(out); ++o) {
    std::int64_t from = 0;
    for (std::size_t d = 0; d < rank; ++d) from += coord[d] * in_strides[static_cast<std::size_t>(c.perm[d])];
    std::memcpy(result.data() + static_cast<std::size_t>(o) * size, in.data() + static_cast<std::size_t>(from) * size, size);
    for (std::size_t d = rank; d-- > 0;) {
      if (++coord[d] < out[d]) break;
      coord[d] = 0;
    }
  }
  return result;
}

std::vector<Tensor> run_transpose(const TransposeCase& c, const Tensor& x, int threads) {
  auto n = testing::node("Transpose", {"x"}, {"y"});
  auto* perm = n.add_attribute();
  perm->set_name("perm");
  perm->set_type(onnx::AttributeProto::INTS);
  for (auto p : c.perm) perm->add_ints(p);
  testing::ScopedOmpThreads scoped(threads);
  return evaluate_node(n, 13, {&x});
}

TEST(EngineTranspose, EveryPermutationAndElementSizeGivesTheDefinitionsBits) {
  std::mt19937 rng(3);
  for (const auto& c : kCases)
    for (DType dtype : {DType::kF32, DType::kI64, DType::kI32, DType::kU8, DType::kF16, DType::kBool})
      for (int threads : {1, 2}) {
        SCOPED_TRACE(shape_str(c.shape) + " " + dtype_str(dtype) + " " + std::to_string(threads) + " threads");
        Tensor x = Tensor::allocate(dtype, c.shape);
        const std::size_t size = dtype_size(dtype);
        auto* bytes = reinterpret_cast<unsigned char*>(x.data);
        for (std::size_t i = 0; i < x.bytes(); ++i) bytes[i] = static_cast<unsigned char>(rng());
        if (dtype == DType::kBool)
          for (std::size_t i = 0; i < x.bytes(); ++i) bytes[i] &= 1;
        if (dtype == DType::kF32 && x.numel() >= 2) {
          const std::uint32_t nan_with_payload = 0x7fc01234u;
          std::memcpy(x.data, &nan_with_payload, 4);
          x.as<float>()[1] = -0.f;
        }
        const std::vector<std::byte> in(x.data, x.data + x.bytes());
        const auto y = run_transpose(c, x, threads);
        ASSERT_EQ(y[0].bytes(), x.bytes());
        const std::vector<std::byte> got(y[0].data, y[0].data + y[0].bytes());
        EXPECT_TRUE(got == transpose_by_definition(c, in, size));
      }
}

}  // namespace
}  // namespace aifgen::engine
