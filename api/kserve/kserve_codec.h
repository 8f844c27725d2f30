// KServe v2 / Open Inference Protocol wire format: JSON tensors and the binary tensor data
// extension (Inference-Header-Content-Length), both ways. Shared by infer-server and loadgen.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/engine/tensor.h"

namespace aifgen::api {

// "FP32" <-> DType. Throws Error(kInvalidArgument, "infer-bad-request") for unknown names.
engine::DType dtype_from_v2(const std::string& s);
const char* dtype_to_v2(engine::DType t);

struct V2Request {
  std::map<std::string, engine::Tensor> inputs;
  std::vector<std::string> outputs;             // empty: all
  std::map<std::string, bool> binary_outputs;   // name -> return as binary data
  bool binary_by_default = false;               // parameters.binary_data_output
  std::string id;
};

// `body` is the whole request body; `header_length` the Inference-Header-Content-Length value
// (0 when absent: all JSON). Throws Error(kInvalidArgument, "infer-bad-request").
V2Request decode_request(const std::string& body, std::size_t header_length);

struct V2Encoded {
  std::string body;
  std::size_t header_length = 0;  // non-zero: binary extension used
};
V2Encoded encode_response(const std::string& model, const std::string& id, const std::vector<std::pair<std::string, engine::Tensor>>& outputs,
                          const std::map<std::string, bool>& binary, bool binary_by_default);

// A request with every tensor as binary data (what loadgen sends).
V2Encoded encode_binary_request(const std::vector<std::pair<std::string, engine::Tensor>>& inputs);
// Decodes a response's outputs (JSON or binary). Throws Error(kInvalidArgument).
std::map<std::string, engine::Tensor> decode_response(const std::string& body, std::size_t header_length);

}  // namespace aifgen::api
