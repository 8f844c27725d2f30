// `aifgen infer-server --bundle DIR`: serves a CPU bundle's model over the KServe v2 / Open
// Inference Protocol REST API (health, server and model metadata, infer with JSON tensors or
// the binary tensor extension). Concurrent requests are batched by InferModel.
#pragma once

#include <string>

#include "api/kserve/infer_model.h"

namespace aifgen::api {

struct InferServerOptions {
  std::string bundle_dir;
  std::string name;                 // model name in URLs; default from variant.json or "model"
  std::string listen = "0.0.0.0:8000";
  std::size_t max_request_bytes = std::size_t{256} << 20;  // enforced while the body arrives
  // A file of API keys, one per line ('#' comments): every route but /v2/health/* then needs
  // "Authorization: Bearer <key>". Empty: no keys (the bundle's default; put it behind a
  // network policy or give it keys).
  std::string api_key_file;
  std::string tls_cert, tls_key;  // both: HTTPS only
  InferOptions infer;
};

// Blocks until SIGINT/SIGTERM. Returns the process exit status.
int run_infer_server(const InferServerOptions& options);

}  // namespace aifgen::api
