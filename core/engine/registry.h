// Kernel registry: op type -> factory. Each kernels/*.cpp file registers its ops in one
// function called from registry.cpp.
#pragma once

#include <map>
#include <string>

#include "core/engine/kernel.h"

namespace aifgen::engine {

using KernelTable = std::map<std::string, KernelFactory>;

const KernelTable& kernel_table();

void register_elementwise_kernels(KernelTable& t);
void register_shape_kernels(KernelTable& t);
void register_conv_kernels(KernelTable& t);
void register_matmul_kernels(KernelTable& t);
void register_pool_kernels(KernelTable& t);
void register_normalization_kernels(KernelTable& t);
void register_reduce_kernels(KernelTable& t);
void register_resize_kernels(KernelTable& t);
void register_quantize_kernels(KernelTable& t);
void register_pad_kernels(KernelTable& t);
void register_scatter_kernels(KernelTable& t);
void register_einsum_kernels(KernelTable& t);
void register_recurrent_kernels(KernelTable& t);
void register_selection_kernels(KernelTable& t);
void register_roi_kernels(KernelTable& t);

// True for ops whose output shapes depend on their inputs' values (NonZero, NonMaxSuppression):
// their factories need every input known, so a planned session leaves them and everything that
// reads their outputs to its dynamic tail (dynamic_tail.h).
bool output_shape_depends_on_values(const onnx::NodeProto& node);

// True when a MaxPool/AveragePool node runs on oneDNN (and so accepts blocked layouts).
bool pool_runs_on_onednn(const onnx::NodeProto& node);

// True when a Resize node, given its planned inputs, runs on oneDNN's resampling (and so accepts
// NHWC and blocked layouts).
bool resize_runs_on_onednn(const NodeCtx& ctx);

}  // namespace aifgen::engine
