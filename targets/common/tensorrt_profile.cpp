#include "targets/common/tensorrt_profile.h"

#include <algorithm>
#include <set>

#include "core/base/error.h"

namespace aifgen {
namespace {

[[noreturn]] void invalid(const std::string& msg) { throw Error(ErrorCode::kUnprocessable, "invalid-shape-profile", msg); }

bool leading_dim_free(const onnx::ValueInfoProto& v) {
  const auto& s = v.type().tensor_type().shape();
  return s.dim_size() > 0 && !(s.dim(0).has_dim_value() && s.dim(0).dim_value() > 0);
}

// trtexec splits its shape lists on ',' and a name from its shape on the last ':'; names that
// hold either are wrapped in single quotes, which trtexec strips (trtexec --help).
std::string trtexec_name(const std::string& name) {
  return name.find_first_of(",:") == std::string::npos ? name : "'" + name + "'";
}

}  // namespace

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(shape[i]);
  }
  return out;
}

std::vector<std::int64_t> dims_of(const onnx::ValueInfoProto& v) {
  std::vector<std::int64_t> d;
  for (const auto& dim : v.type().tensor_type().shape().dim()) d.push_back(dim.has_dim_value() && dim.dim_value() > 0 ? dim.dim_value() : -1);
  return d;
}

bool TensorrtProfile::dynamic() const {
  for (const auto& in : inputs)
    if (std::find(in.dims.begin(), in.dims.end(), -1) != in.dims.end()) return true;
  return false;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void check_shape_profiles(const ShapeProfiles& profiles, const std::map<std::string, std::vector<std::int64_t>>& model_inputs) {
  for (const auto& [name, r] : profiles) {
    auto it = model_inputs.find(name);
    if (it == model_inputs.end()) invalid("shape_profiles names '" + name + "', which is not an input of the model");
    const auto& dims = it->second;
    if (r.min.size() != dims.size() || r.opt.size() != dims.size() || r.max.size() != dims.size())
      invalid("shape_profiles." + name + ": the model's input has rank " + std::to_string(dims.size()));
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (r.min[i] < 1 || r.min[i] > r.opt[i] || r.opt[i] > r.max[i])
        invalid("shape_profiles." + name + ": dim " + std::to_string(i) + " needs 1 <= min <= opt <= max");
      if (dims[i] > 0 && (r.min[i] != dims[i] || r.max[i] != dims[i]))
        invalid("shape_profiles." + name + ": dim " + std::to_string(i) + " is fixed at " + std::to_string(dims[i]) + " in the model");
    }
  }
}

TensorrtProfile tensorrt_profile(const onnx::ModelProto& model, std::int64_t max_batch, const ShapeProfiles& overrides,
                                 const std::map<std::string, std::vector<std::int64_t>>& sample_shapes) {
  const auto& g = model.graph();
  std::set<std::string> inits;
  for (const auto& t : g.initializer()) inits.insert(t.name());
  std::map<std::string, std::vector<std::int64_t>> model_inputs;
  bool batch_free = max_batch > 0;
  for (const auto& in : g.input()) {
    if (inits.count(in.name())) continue;
    if (!in.type().tensor_type().has_shape())
      throw Error(ErrorCode::kUnprocessable, "target-unsupported-shape",
                  "input '" + in.name() + "' has no known rank; TensorRT needs one for its optimization profile");
    model_inputs[in.name()] = dims_of(in);
    batch_free = batch_free && leading_dim_free(in);
  }
  for (const auto& out : g.output()) batch_free = batch_free && leading_dim_free(out);
  check_shape_profiles(overrides, model_inputs);

  TensorrtProfile p;
  for (const auto& in : g.input()) {
    if (inits.count(in.name())) continue;
    TensorrtInput t;
    t.name = in.name();
    t.dims = model_inputs.at(in.name());
    if (auto o = overrides.find(t.name); o != overrides.end()) {
      t.range = o->second;
      t.source = "job option";
    } else {
      auto sample = sample_shapes.find(t.name);
      const bool from_sample = sample != sample_shapes.end() && sample->second.size() == t.dims.size();
      t.source = std::find(t.dims.begin(), t.dims.end(), -1) == t.dims.end() ? "fixed" : from_sample ? "calibration set" : "default";
      for (std::size_t i = 0; i < t.dims.size(); ++i) {
        std::int64_t lo, opt, hi;
        if (t.dims[i] > 0) {
          lo = opt = hi = t.dims[i];
        } else if (i == 0) {  // a free leading dim is a batch, whether or not Triton batches it
          lo = opt = 1;
          hi = std::max<std::int64_t>(1, max_batch);
        } else {
          opt = from_sample && sample->second[i] > 0 ? sample->second[i] : kDefaultDim;
          // Height and width of an image batch go down to 32 (a CNN's usual total stride), other
          // free dims (sequence lengths) down to 1.
          const bool spatial = t.dims.size() == 4 && i >= 2;
          lo = spatial ? std::min<std::int64_t>(opt, kMinSpatialDim) : 1;
          hi = std::max(opt, std::min(opt * 4, kMaxDefaultDim));
        }
        t.range.min.push_back(lo);
        t.range.opt.push_back(opt);
        t.range.max.push_back(hi);
      }
    }
    p.inputs.push_back(std::move(t));
  }
  // Triton batches only when every input's leading dim runs 1..N with the same N.
  p.batched = batch_free && !p.inputs.empty();
  for (const auto& t : p.inputs)
    p.batched = p.batched && t.range.min[0] == 1 && t.range.max[0] == p.inputs.front().range.max[0] && t.range.max[0] > 1;
  p.max_batch = p.batched ? p.inputs.front().range.max[0] : 0;
  return p;
}

std::string trtexec_shape_args(const TensorrtProfile& profile) {
  if (!profile.dynamic()) return "";
  std::string mn, opt, mx;
  for (const auto& t : profile.inputs) {
    const std::string sep = mn.empty() ? "" : ",";
    mn += sep + trtexec_name(t.name) + ":" + shape_text(t.range.min);
    opt += sep + trtexec_name(t.name) + ":" + shape_text(t.range.opt);
    mx += sep + trtexec_name(t.name) + ":" + shape_text(t.range.max);
  }
  return shell_quote("--minShapes=" + mn) + " " + shell_quote("--optShapes=" + opt) + " " + shell_quote("--maxShapes=" + mx);
}

}  // namespace aifgen
