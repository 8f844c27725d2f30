// Pass "fuse_matmul_add": MatMul(A, B) followed by Add(., C) becomes Gemm(A, B, C) when that is
// exactly the same computation: A is 2-D, B is a constant 2-D weight, C a constant that
// broadcasts along rows ([N] or [1, N]), and the MatMul result is read by the Add only.
#include "core/passes/graph_edit.h"
#include "core/passes/pass.h"

namespace aifgen {
namespace {

bool is_op(const onnx::NodeProto& n, const char* op) { return n.op_type() == op && (n.domain().empty() || n.domain() == "ai.onnx"); }

}  // namespace

class FuseMatMulAddPass final : public Pass {
 public:
  std::string name() const override { return "fuse_matmul_add"; }

  PassCounts run(onnx::ModelProto& model) override {
    auto& g = *model.mutable_graph();
    std::int64_t fused = 0;
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& mm = g.node(i);
      if (!is_op(mm, "MatMul") || mm.input_size() != 2) continue;
      auto uses = value_use_counts(g);
      if (uses[mm.output(0)] != 1 || is_graph_output(g, mm.output(0))) continue;
      int add_idx = -1;
      for (int j = i + 1; j < g.node_size() && add_idx < 0; ++j)
        for (const auto& in : g.node(j).input())
          if (in == mm.output(0)) add_idx = j;
      if (add_idx < 0 || !is_op(g.node(add_idx), "Add")) continue;
      const auto& add = g.node(add_idx);
      const std::string c = add.input(0) == mm.output(0) ? add.input(1) : add.input(0);
      const auto* b = find_constant(g, mm.input(1));
      const auto* ct = find_constant(g, c);
      if (!b || !ct || b->dims_size() != 2 || b->data_type() != onnx::TensorProto::FLOAT) continue;
      const auto n = b->dims(1);
      const bool row_vector = (ct->dims_size() == 1 && ct->dims(0) == n) || (ct->dims_size() == 2 && ct->dims(0) == 1 && ct->dims(1) == n);
      auto a_dims = declared_dims(g, mm.input(0));
      if (!row_vector || ct->data_type() != onnx::TensorProto::FLOAT || !a_dims || a_dims->size() != 2) continue;
      onnx::NodeProto gemm;
      gemm.set_op_type("Gemm");
      gemm.set_name(mm.name() + "_gemm");
      gemm.add_input(mm.input(0));
      gemm.add_input(mm.input(1));
      gemm.add_input(c);
      gemm.add_output(add.output(0));
      *g.mutable_node(add_idx) = gemm;  // at the Add's place, where C is surely defined
      g.mutable_node()->DeleteSubrange(i, 1);
      --i;
      ++fused;
    }
    return {{"matmuls_fused", fused}};
  }
};

std::unique_ptr<Pass> make_fuse_matmul_add_pass() { return std::make_unique<FuseMatMulAddPass>(); }

}  // namespace aifgen
