#include "api/kserve/kserve_codec.h"

#include <cmath>
#include <limits>

#include <cstring>

#include "core/engine/kernels/dispatch.h"
#include "core/base/error.h"

namespace aifgen::api {
namespace {

[[noreturn]] void bad(const std::string& why) { throw Error(ErrorCode::kInvalidArgument, "infer-bad-request", why); }

const std::pair<const char*, engine::DType> kTypes[] = {
    {"FP32", engine::DType::kF32}, {"FP64", engine::DType::kF64}, {"FP16", engine::DType::kF16}, {"INT64", engine::DType::kI64},
    {"INT32", engine::DType::kI32}, {"INT16", engine::DType::kI16}, {"INT8", engine::DType::kI8}, {"UINT8", engine::DType::kU8},
    {"UINT16", engine::DType::kU16}, {"UINT32", engine::DType::kU32}, {"UINT64", engine::DType::kU64}, {"BOOL", engine::DType::kBool}};

engine::Shape read_shape(const nlohmann::json& j, const std::string& name) {
  if (!j.contains("shape") || !j["shape"].is_array() || j["shape"].size() > 8) bad("tensor '" + name + "' needs a shape (at most 8 dims)");
  engine::Shape s;
  __int128 count = 1;
  for (const auto& d : j["shape"]) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0) bad("tensor '" + name + "' has a bad dim");
    s.push_back(d.get<std::int64_t>());
    count *= s.back();
    if (count > (std::int64_t{1} << 32)) bad("tensor '" + name + "' is too large");
  }
  return s;
}

void flatten(const nlohmann::json& j, std::vector<const nlohmann::json*>& out, int depth = 0) {
  if (depth > 9) bad("data nested too deeply");
  if (j.is_array())
    for (const auto& e : j) flatten(e, out, depth + 1);
  else
    out.push_back(&j);
}

// A JSON number as T, refused (400) when T cannot hold it: a fraction or an out-of-range value
// for an integer type, a finite value beyond the float type's range. A plain cast would be
// undefined behaviour there (found by fuzz_kserve_request: 99999999.9 sent as UINT8).
template <class T>
T number_as(const nlohmann::json& v, const std::string& name) {
  using L = std::numeric_limits<T>;
  const auto out_of_range = [&] { bad("tensor '" + name + "' holds a value its datatype cannot represent"); };
  if constexpr (std::is_floating_point_v<T>) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::abs(d) > static_cast<double>(L::max())) out_of_range();
    return static_cast<T>(d);
  } else {
    if (v.is_number_float()) {
      const double d = v.get<double>();
      const double limit = std::ldexp(1.0, L::digits);  // 2^digits: one past the largest value, exact in double
      if (!(d == std::floor(d)) || d >= limit || d < (L::is_signed ? -limit : 0.0)) out_of_range();
      return static_cast<T>(d);
    }
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(L::max())) out_of_range();
      return static_cast<T>(u);
    }
    const auto i = v.get<std::int64_t>();
    if (i < static_cast<std::int64_t>(L::min()) || (i > 0 && static_cast<std::uint64_t>(i) > static_cast<std::uint64_t>(L::max())))
      out_of_range();
    return static_cast<T>(i);
  }
}

void fill_from_json(engine::Tensor& t, const nlohmann::json& data, const std::string& name) {
  std::vector<const nlohmann::json*> values;
  flatten(data, values);
  if (static_cast<std::int64_t>(values.size()) != t.numel())
    bad("tensor '" + name + "' has " + std::to_string(values.size()) + " values for shape " + engine::shape_str(t.shape));
  if (t.dtype == engine::DType::kF16) bad("FP16 tensors must use the binary extension");
  engine::dispatch_type(t.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* p = t.as<T>();
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto& v = *values[i];
      if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean()) bad("tensor '" + name + "' must hold booleans");
        p[i] = v.get<bool>();
      } else {
        if (!v.is_number()) bad("tensor '" + name + "' must hold numbers");
        p[i] = number_as<T>(v, name);
      }
    }
  });
}

nlohmann::json to_json_data(const engine::Tensor& t) {
  nlohmann::json a = nlohmann::json::array();
  if (t.dtype == engine::DType::kF16) bad("FP16 outputs need the binary extension");
  engine::dispatch_type(t.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* p = t.as<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) a.push_back(p[i]);
  });
  return a;
}

}  // namespace

engine::DType dtype_from_v2(const std::string& s) {
  for (const auto& [name, t] : kTypes)
    if (s == name) return t;
  bad("unknown datatype '" + s + "'");
}

const char* dtype_to_v2(engine::DType t) {
  for (const auto& [name, d] : kTypes)
    if (d == t) return name;
  return "BYTES";
}

V2Request decode_request(const std::string& body, std::size_t header_length) {
  if (header_length > body.size()) bad("Inference-Header-Content-Length exceeds the body");
  const std::size_t json_len = header_length ? header_length : body.size();
  auto j = nlohmann::json::parse(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(json_len), nullptr, false);
  if (j.is_discarded() || !j.is_object()) bad("the request is not a JSON object");
  if (!j.contains("inputs") || !j["inputs"].is_array() || j["inputs"].empty() || j["inputs"].size() > 64)
    bad("'inputs' must be a non-empty array");
  V2Request r;
  if (j.contains("id") && j["id"].is_string()) r.id = j["id"].get<std::string>();
  if (j.contains("parameters") && j["parameters"].is_object() && j["parameters"].contains("binary_data_output"))
    r.binary_by_default = j["parameters"]["binary_data_output"].is_boolean() && j["parameters"]["binary_data_output"].get<bool>();
  std::size_t offset = json_len;
  for (const auto& in : j["inputs"]) {
    if (!in.is_object() || !in.contains("name") || !in["name"].is_string()) bad("every input needs a name");
    const auto name = in["name"].get<std::string>();
    if (!in.contains("datatype") || !in["datatype"].is_string()) bad("input '" + name + "' needs a datatype");
    const auto dtype = dtype_from_v2(in["datatype"].get<std::string>());
    const auto shape = read_shape(in, name);
    // Every element costs at least one byte of the body (binary) or of JSON text: a shape
    // claiming more is refused before anything is allocated by it.
    if (static_cast<std::uint64_t>(engine::numel(shape)) > body.size()) bad("input '" + name + "' declares more elements than the request holds");
    auto t = engine::Tensor::allocate(dtype, shape);
    const auto* params = in.contains("parameters") && in["parameters"].is_object() ? &in["parameters"] : nullptr;
    if (params && params->contains("binary_data_size")) {
      const auto& n = (*params)["binary_data_size"];
      if (!n.is_number_unsigned() || n.get<std::uint64_t>() != t.bytes()) bad("input '" + name + "': binary_data_size does not match its shape and type");
      if (offset + t.bytes() > body.size()) bad("input '" + name + "': the binary data is truncated");
      std::memcpy(t.data, body.data() + offset, t.bytes());
      offset += t.bytes();
    } else {
      if (!in.contains("data")) bad("input '" + name + "' has no data");
      fill_from_json(t, in["data"], name);
    }
    if (!r.inputs.emplace(name, std::move(t)).second) bad("input '" + name + "' is given twice");
  }
  if (offset != body.size()) bad("the body has bytes that no input claims");
  if (j.contains("outputs")) {
    if (!j["outputs"].is_array()) bad("'outputs' must be an array");
    for (const auto& o : j["outputs"]) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) bad("every requested output needs a name");
      const auto name = o["name"].get<std::string>();
      r.outputs.push_back(name);
      if (o.contains("parameters") && o["parameters"].is_object() && o["parameters"].contains("binary_data"))
        r.binary_outputs[name] = o["parameters"]["binary_data"].is_boolean() && o["parameters"]["binary_data"].get<bool>();
    }
  }
  return r;
}

V2Encoded encode_response(const std::string& model, const std::string& id, const std::vector<std::pair<std::string, engine::Tensor>>& outputs,
                          const std::map<std::string, bool>& binary, bool binary_by_default) {
  nlohmann::json j = {{"model_name", model}, {"model_version", "1"}, {"outputs", nlohmann::json::array()}};
  if (!id.empty()) j["id"] = id;
  std::string tail;
  for (const auto& [name, t] : outputs) {
    auto b = binary.find(name);
    const bool as_binary = b != binary.end() ? b->second : binary_by_default;
    nlohmann::json o = {{"name", name}, {"datatype", dtype_to_v2(t.dtype)}, {"shape", t.shape}};
    if (as_binary || t.dtype == engine::DType::kF16) {
      o["parameters"] = {{"binary_data_size", t.bytes()}};
      tail.append(reinterpret_cast<const char*>(t.data), t.bytes());
    } else {
      o["data"] = to_json_data(t);
    }
    j["outputs"].push_back(std::move(o));
  }
  V2Encoded e;
  e.body = j.dump();
  if (!tail.empty()) {
    e.header_length = e.body.size();
    e.body += tail;
  }
  return e;
}

V2Encoded encode_binary_request(const std::vector<std::pair<std::string, engine::Tensor>>& inputs) {
  nlohmann::json j = {{"inputs", nlohmann::json::array()}, {"parameters", {{"binary_data_output", true}}}};
  std::string tail;
  for (const auto& [name, t] : inputs) {
    j["inputs"].push_back({{"name", name}, {"datatype", dtype_to_v2(t.dtype)}, {"shape", t.shape}, {"parameters", {{"binary_data_size", t.bytes()}}}});
    tail.append(reinterpret_cast<const char*>(t.data), t.bytes());
  }
  V2Encoded e;
  e.body = j.dump();
  e.header_length = e.body.size();
  e.body += tail;
  return e;
}

std::map<std::string, engine::Tensor> decode_response(const std::string& body, std::size_t header_length) {
  if (header_length > body.size()) bad("header length exceeds the body");
  const std::size_t json_len = header_length ? header_length : body.size();
  auto j = nlohmann::json::parse(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(json_len), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("outputs") || !j["outputs"].is_array()) bad("not a v2 inference response");
  std::map<std::string, engine::Tensor> out;
  std::size_t offset = json_len;
  for (const auto& o : j["outputs"]) {
    const auto name = o.value("name", std::string());
    const auto dtype = dtype_from_v2(o.value("datatype", std::string()));
    const auto shape = read_shape(o, name);
    if (static_cast<std::uint64_t>(engine::numel(shape)) > body.size()) bad("output '" + name + "' declares more elements than the response holds");
    auto t = engine::Tensor::allocate(dtype, shape);
    if (o.contains("parameters") && o["parameters"].contains("binary_data_size")) {
      if (offset + t.bytes() > body.size()) bad("truncated binary output");
      std::memcpy(t.data, body.data() + offset, t.bytes());
      offset += t.bytes();
    } else {
      fill_from_json(t, o["data"], name);
    }
    out.emplace(name, std::move(t));
  }
  return out;
}

}  // namespace aifgen::api
