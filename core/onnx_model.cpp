// Untrusted-bytes boundary for ONNX: bounded parse, external-data refusal, checker, inference.
#include "core/onnx_model.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <unordered_map>

#include "core/base/error.h"

namespace aifgen {
namespace {

Error invalid(const std::string& type, const std::string& msg) {
  return Error(ErrorCode::kInvalidModel, type, msg);
}

bool tensor_is_external(const onnx::TensorProto& t) {
  return t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0;
}

// Returns the name of the first tensor that references external data, searching subgraphs.
std::string find_external(const onnx::GraphProto& g);

std::string find_external_in_attr(const onnx::AttributeProto& a) {
  if (a.has_t() && tensor_is_external(a.t())) return a.t().name().empty() ? "(attribute)" : a.t().name();
  for (const auto& t : a.tensors())
    if (tensor_is_external(t)) return t.name();
  if (a.has_g()) {
    auto n = find_external(a.g());
    if (!n.empty()) return n;
  }
  for (const auto& g : a.graphs()) {
    auto n = find_external(g);
    if (!n.empty()) return n;
  }
  return {};
}

std::string find_external(const onnx::GraphProto& g) {
  for (const auto& t : g.initializer())
    if (tensor_is_external(t)) return t.name();
  for (const auto& s : g.sparse_initializer())
    if (tensor_is_external(s.values())) return s.values().name();
  for (const auto& node : g.node())
    for (const auto& a : node.attribute()) {
      auto n = find_external_in_attr(a);
      if (!n.empty()) return n;
    }
  return {};
}

// libonnx 1.12's convPoolShapeInference dereferences out of range (SIGSEGV, found by fuzzing)
// when a convolution's or pool's input rank, weight rank and attribute lengths disagree. Check
// what is knowable before inference so such a model is refused instead of crashing the process.
void check_conv_pool_geometry(const onnx::GraphProto& g) {
  std::unordered_map<std::string, int> rank;
  for (const auto& t : g.initializer()) rank[t.name()] = t.dims_size();
  for (const auto* list : {&g.input(), &g.value_info()})
    for (const auto& v : *list)
      if (v.type().has_tensor_type() && v.type().tensor_type().has_shape()) rank[v.name()] = v.type().tensor_type().shape().dim_size();
  auto rank_of = [&](const onnx::NodeProto& n, int i) {
    if (i >= n.input_size() || n.input(i).empty()) return -1;
    auto it = rank.find(n.input(i));
    return it == rank.end() ? -1 : it->second;
  };
  static const std::unordered_map<std::string, int> kWeightInput = {
      {"Conv", 1}, {"ConvTranspose", 1}, {"ConvInteger", 1}, {"QLinearConv", 3},
      {"MaxPool", -1}, {"AveragePool", -1}, {"LpPool", -1}, {"MaxUnpool", -1}};
  for (const auto& n : g.node()) {
    if (!(n.domain().empty() || n.domain() == "ai.onnx")) continue;
    auto op = kWeightInput.find(n.op_type());
    if (op == kWeightInput.end()) continue;
    const int xr = rank_of(n, 0), wr = op->second >= 0 ? rank_of(n, op->second) : -1;
    auto bad = [&](const std::string& why) {
      throw invalid("model-invalid-node", "node '" + n.name() + "' (" + n.op_type() + "): " + why);
    };
    if (xr >= 0 && xr < 3) bad("input rank " + std::to_string(xr) + " is below 3 (N, C, spatial...)");
    if (xr >= 0 && wr >= 0 && xr != wr) bad("input rank " + std::to_string(xr) + " differs from weight rank " + std::to_string(wr));
    int spatial = xr >= 0 ? xr - 2 : (wr >= 0 ? wr - 2 : -1);
    for (const auto& a : n.attribute()) {
      if (a.name() == "kernel_shape" && spatial < 0) spatial = a.ints_size();
    }
    if (spatial < 0) continue;
    for (const auto& a : n.attribute()) {
      const bool per_dim = a.name() == "kernel_shape" || a.name() == "strides" || a.name() == "dilations" || a.name() == "output_padding";
      if (per_dim && a.ints_size() != spatial) bad(a.name() + " has " + std::to_string(a.ints_size()) + " values for " + std::to_string(spatial) + " spatial dims");
      if (a.name() == "pads" && a.ints_size() != 2 * spatial) bad("pads has " + std::to_string(a.ints_size()) + " values for " + std::to_string(spatial) + " spatial dims");
    }
  }
}

// Counts nodes and the deepest subgraph nesting, and refuses declared shapes larger than the
// limit, before the checker or shape inference (which allocate by declared sizes) see them.
void check_model_size(const onnx::GraphProto& g, const ModelLimits& limits, int depth, std::int64_t& nodes) {
  if (depth > limits.max_subgraph_depth)
    throw invalid("model-too-complex", "subgraphs are nested deeper than " + std::to_string(limits.max_subgraph_depth));
  auto check_shape = [&](const onnx::ValueInfoProto& v) {
    if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
    unsigned __int128 n = 1;
    for (const auto& d : v.type().tensor_type().shape().dim()) {
      if (!d.has_dim_value()) continue;
      if (d.dim_value() < 0) throw invalid("model-invalid-shape", "'" + v.name() + "' declares a negative dimension");
      n *= static_cast<unsigned __int128>(d.dim_value());
      if (n > static_cast<unsigned __int128>(limits.max_declared_elements))
        throw invalid("model-too-complex", "'" + v.name() + "' declares more than " + std::to_string(limits.max_declared_elements) + " elements");
    }
  };
  for (const auto* list : {&g.input(), &g.output(), &g.value_info()})
    for (const auto& v : *list) check_shape(v);
  for (const auto& n : g.node()) {
    if (++nodes > limits.max_nodes)
      throw invalid("model-too-complex", "the model has more than " + std::to_string(limits.max_nodes) + " nodes");
    for (const auto& a : n.attribute()) {
      if (a.has_g()) check_model_size(a.g(), limits, depth + 1, nodes);
      for (const auto& sg : a.graphs()) check_model_size(sg, limits, depth + 1, nodes);
    }
  }
}

}  // namespace

onnx::ModelProto load_model_file(const std::string& path, const ModelLimits& limits) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kNotFound, "file-not-found", "cannot open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kInvalidArgument, "not-a-file", path + " is not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > limits.max_bytes || st.st_size > INT32_MAX) {
    ::close(fd);
    throw Error(ErrorCode::kTooLarge, "model-too-large",
                "model is " + std::to_string(st.st_size) + " bytes; the limit is " +
                    std::to_string(limits.max_bytes));
  }
  if (st.st_size == 0) {
    ::close(fd);
    throw invalid("model-empty", "the model file is empty");
  }
  onnx::ModelProto model;
  bool ok = false;
  bool consumed_all = false;
  {
    google::protobuf::io::FileInputStream raw(fd);
    google::protobuf::io::CodedInputStream coded(&raw);
    coded.SetTotalBytesLimit(static_cast<int>(st.st_size));
    coded.SetRecursionLimit(limits.max_recursion);
    ok = model.ParseFromCodedStream(&coded);
    consumed_all = ok && coded.ConsumedEntireMessage();
  }
  ::close(fd);
  if (!ok || !consumed_all)
    throw invalid("model-parse-failed",
                  "the bytes are not a complete ONNX protobuf (truncated, corrupted or not ONNX)");
  return model;
}

void accept_model(onnx::ModelProto& model, const ModelLimits& limits) {
  if (!model.has_graph() || model.ir_version() <= 0 || model.opset_import_size() == 0)
    throw invalid("not-an-onnx-model",
                  "the protobuf parsed but is not an ONNX model (no graph, ir_version or opset_import)");
  std::int64_t nodes = 0;
  check_model_size(model.graph(), limits, 0, nodes);
  auto ext = find_external(model.graph());
  if (!ext.empty())
    throw invalid("model-external-data",
                  "tensor '" + ext + "' references external data; only self-contained models are "
                  "accepted (re-export with all tensors embedded)");
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw invalid("model-checker-failed", std::string("ONNX checker: ") + e.what());
  }
  check_conv_pool_geometry(model.graph());
  try {
    onnx::ShapeInferenceOptions options(/*check_type=*/true, /*strict=*/1, /*data_prop=*/true);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    throw invalid("model-shape-inference-failed", std::string("ONNX shape inference: ") + e.what());
  }
}

void reinfer_shapes(onnx::ModelProto& model, bool check_types) {
  model.mutable_graph()->clear_value_info();
  try {
    onnx::ShapeInferenceOptions options(check_types, /*strict=*/1, /*data_prop=*/true);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidModel, "model-shape-inference-failed", std::string("ONNX shape inference: ") + e.what());
  }
}

void save_model_file(const onnx::ModelProto& model, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !model.SerializeToOstream(&out) || !out.flush())
    throw Error(ErrorCode::kIo, "io-error", "cannot write model to " + path);
}

std::int64_t default_opset(const onnx::ModelProto& model) {
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") return op.version();
  return 0;
}

}  // namespace aifgen
