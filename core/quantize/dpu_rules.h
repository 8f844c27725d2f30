// The form Vitis AI's DPU compiler expects of a quantized ONNX model, as vai_q_onnx's DPU mode
// (Vitis AI 3.5 quantizer, refine step) produces it, written as checks:
//  - every Q/DQ scale a power of two (scale = 2^-pos), zero point 0, int8;
//  - weights and biases of Conv/ConvTranspose/Gemm/MatMul stay float initializers behind
//    QuantizeLinear -> DequantizeLinear (not int8 initializers);
//  - every such op reads a dequantized input and its output (after a fused Relu/Clip/LeakyRelu)
//    is quantized, as are the outputs of Add, Concat and the pools;
//  - shift_cut = wpos + ipos - opos in [0, 16]; shift_bias = wpos + ipos - bpos in
//    [min(0, -(24 - (8 + shift_cut))), 16];
//  - Add: shift_read = max(ipos) - min(ipos) <= 15, shift_write = min(ipos) - opos in [-15, 15];
//  - Concat: inputs and output share one position; pools: input and output share one.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace aifgen::quantize {

// One line per rule a node breaks; empty when the graph is in the DPU form.
std::vector<std::string> check_dpu_qdq(const onnx::GraphProto& graph);

// The quantization position of a power-of-two scale: round(-log2(scale)).
int position_of(float scale);

}  // namespace aifgen::quantize
