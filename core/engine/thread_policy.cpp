#include "core/engine/thread_policy.h"

#include <algorithm>

namespace aifgen::engine {
namespace {

// Below this much work a step takes under ~15 us on one AVX-512 or AVX2 core: about what a
// 2-thread fork/join and the cache traffic it causes cost here (measured with bench --profile
// on mobilenet_v3_small and mnasnet). MACs and touched elements share it: a MAC of a blocked
// kernel costs about what streaming an element through an element-wise op costs.
constexpr double kParallelMinWork = 1 << 19;

// Multi-threaded work a session needs before a second thread pays for itself overall. Measured
// with bench/zoo.sh on a 2-core AMD EPYC VM (2026-12-02): shufflenet_v2_x1_0 (141M in its
// parallel steps) ran 1.34x slower at 2 threads than at 1 and mobilenet_v3_small (54M) 1.47x,
// while mnasnet1_0 (314M) broke even and mobilenet_v2 (299M) and regnet_x_400mf (413M) gained.
// On the AVX-512 VM of earlier runs (another machine) mobilenet_v3_small gained at 2 threads;
// the bound is set where neither machine loses, at the cost of that gain.
constexpr double kMinSessionParallelWork = 1.5e8;


// Per-element weights of the costlier ops (estimated_work says where they come from).
constexpr double kTranscendentalPasses = 8;
constexpr double kNormalizationPasses = 4;
constexpr double kGatherCost = 4;

double elements(const TensorDesc& d) { return static_cast<double>(numel(d.shape)); }

// Whether a Transpose's output reads its innermost axis from another input axis (a strided
// gather), rather than copying whole rows.
bool moves_innermost_axis(const onnx::NodeProto& node, const std::vector<PlanInput>& in) {
  if (in.empty() || !in[0].present) return false;
  const auto rank = static_cast<std::int64_t>(in[0].desc.shape.size());
  for (const auto& a : node.attribute())
    if (a.name() == "perm" && a.ints_size() > 0) {
      const auto last = a.ints(a.ints_size() - 1);
      return last != rank - 1 && last != -1;
    }
  return rank > 1;  // no perm: every axis reversed
}

// The product of an ints attribute's entries (each at least 1), e.g. a window's size or the
// factor its strides shrink the output by; 1 when the node has no such attribute.
double attr_product(const onnx::NodeProto& node, const char* name) {
  double product = 1;
  for (const auto& a : node.attribute())
    if (a.name() == name)
      for (auto v : a.ints()) product *= static_cast<double>(std::max<std::int64_t>(v, 1));
  return product;
}

}  // namespace

double estimated_work(const onnx::NodeProto& node, const std::vector<PlanInput>& in) {
  const std::string& op = node.op_type();
  auto present = [&](std::size_t i) { return i < in.size() && in[i].present; };
  if ((op == "Conv" || op == "ConvInt8" || op == "ConvTranspose") && present(0) && present(1)) {
    const auto& x = in[0].desc.shape;
    const auto& w = in[1].desc.shape;
    if (x.size() < 3 || w.size() != x.size()) return elements(in[0].desc);
    double spatial = 1;
    for (std::size_t i = 2; i < x.size(); ++i) spatial *= static_cast<double>(x[i]);
    const double stride = op == "ConvTranspose" ? 1 : attr_product(node, "strides");
    return static_cast<double>(x[0]) * static_cast<double>(numel(w)) * spatial / stride;
  }
  if ((op == "MatMul" || op == "Gemm" || op == "MatMulInt8") && present(0) && present(1)) {
    const auto& b = in[1].desc.shape;
    const double n = b.empty() ? 1 : static_cast<double>(op == "Gemm" ? std::max(b[0], b.back()) : b.back());
    return elements(in[0].desc) * n;
  }
  if ((op == "RNN" || op == "LSTM" || op == "GRU") && present(0) && present(2) && in[0].desc.shape.size() == 3) {
    // oneDNN runs one small recurrent product per time step, each its own fork/join: what a
    // second thread can share is one step's work, batch x the recurrent weights (a GRU with
    // 256 hidden units at batch 1 ran 0.68 ms on one thread, 0.81-0.99 ms on two).
    std::int64_t layout = 0;
    for (const auto& a : node.attribute())
      if (a.name() == "layout") layout = a.i();
    const auto& x = in[0].desc.shape;
    return static_cast<double>(layout == 1 ? x[0] : x[1]) * elements(in[2].desc);
  }
  if ((op == "Resize" || op == "Upsample") && present(0)) {
    // An upsample's work is its output, which can be 64x its input (a segmentation head's 8x
    // bilinear upsample of 21x28x28 to 21x224x224: 16K input elements, 1M outputs reading 4
    // inputs each); sized by its input it stayed on one thread.
    const double in_elements = elements(in[0].desc);
    double out_elements = in_elements;
    const PlanInput* sizes = present(3) && in[3].constant && in[3].constant->numel() > 0 ? &in[3] : nullptr;
    // Scales are input 1 of Upsample and of Resize-10 (X, scales), input 2 from Resize-11 on.
    const std::size_t scales_at = op == "Upsample" || node.input_size() == 2 ? 1 : 2;
    const PlanInput* scales = present(scales_at) && in[scales_at].constant ? &in[scales_at] : nullptr;
    if (sizes && sizes->constant->dtype == DType::kI64) {
      out_elements = 1;
      for (std::int64_t i = 0; i < sizes->constant->numel(); ++i) out_elements *= static_cast<double>(sizes->constant->as<std::int64_t>()[i]);
    } else if (scales && scales->constant->dtype == DType::kF32) {
      for (std::int64_t i = 0; i < scales->constant->numel(); ++i) out_elements *= static_cast<double>(scales->constant->as<float>()[i]);
    }
    return in_elements + 4 * out_elements;
  }
  if ((op == "MaxPool" || op == "AveragePool") && present(0)) {
    // A pooling window reads window-size inputs per output, and its input is a convolution's
    // output the team wrote: counted as elements it would sit on one thread (googlenet's 3x3
    // stride-1 pools over 512x14x14, 100K elements) and pull the other core's cache lines. With
    // both weights googlenet's 13 MaxPools at 2 threads took 0.60 ms instead of 0.85 ms (0.62 ms
    // at 1 thread), squeezenet1_1's 3 took 0.13 instead of 0.19 ms.
    const double in_elements = elements(in[0].desc);
    return team_written_work(in_elements) + attr_product(node, "kernel_shape") * in_elements / attr_product(node, "strides");
  }
  double total = 0;
  for (const auto& p : in)
    if (p.present) total += elements(p.desc);
  // Ops that do several passes or transcendental math per element, or gather one element per
  // cache line, cost several element-wise ops' worth per element (per element at 1 thread, on
  // swin_t's 64x3x49x49 scores and 1x56x56x96 activations: Softmax 1.3 ns, a Transpose moving
  // the innermost axis 0.75 ns, LayerNormalization 0.5 ns, an Add or a Slice 0.1-0.16 ns). By
  // elements alone Swin's attention softmaxes (0.6 ms), window transposes and layer norms ran
  // on one thread of two.
  if (op == "Softmax" || op == "LogSoftmax") return kTranscendentalPasses * total;
  if (op == "LayerNormalization") return kNormalizationPasses * total;
  if (op == "Transpose" && moves_innermost_axis(node, in)) return kGatherCost * total;
  // A Concat joins values the steps before it wrote on every core of the team; on one thread it
  // pulls the other cores' cache lines piece by piece, which costs far more than its element
  // count says (densenet121's 2-thread p50 fell from 23.1 to 21.4 ms, squeezenet1_1's from
  // 2.77 to 2.71, when its Concats ran on the team; nothing at 1 thread changes).
  if (op == "Concat") return team_written_work(total);
  return total;
}

double team_written_work(double elements) { return 8 * elements; }

bool worth_a_thread_team(double parallel_work) { return parallel_work >= kMinSessionParallelWork; }

int threads_for_work(double work, int max_threads) { return work < kParallelMinWork ? 1 : std::max(1, max_threads); }

}  // namespace aifgen::engine
