// How a MatMul or Gemm by constant 2-D weights runs (matmul.cpp): oneDNN's matmul with the
// weights in the faster of two layouts, or a 1x1 convolution over the rows as NHWC pixels where
// that times faster (oneDNN 2.6's AVX2 GEMM repacks the weights on every call; its 1x1
// convolution kernel reads them packed once). Both choices are timed at planning, once per shape
// and thread count. Session::pointwise_products() counts the products run as convolutions. At a
// batch of at most 4 rows the rows kernel (rows_product.h) is timed against the choice too.
#pragma once

#include <optional>

namespace aifgen::engine {

// Tests: every product by constant weights runs as the pointwise convolution (true) or as the
// matmul (false) without timing, where the convolution can be built; nullopt restores the timing.
void force_pointwise_products_for_testing(std::optional<bool> pointwise);
// Tests: every product that fits the rows kernel (rows_product.h: at most 4 rows of A, a
// constant or no bias, no activation but ReLU) runs on it (true) or on oneDNN (false) without
// timing; nullopt restores the timing.
void force_rows_products_for_testing(std::optional<bool> rows);

}  // namespace aifgen::engine
