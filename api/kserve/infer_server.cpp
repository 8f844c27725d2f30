// The v2 protocol's routes over cpprest. Errors answer {"error": "..."} as the protocol says.
#include "api/kserve/infer_server.h"

#include <cpprest/http_listener.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include <openssl/crypto.h>

#include "api/kserve/kserve_codec.h"
#include "api/listener_config.h"
#include "core/base/error.h"
#include "core/base/sha256.h"

namespace aifgen::api {
namespace {

using web::http::http_request;
using web::http::http_response;

void reply_json(const http_request& req, int status, const nlohmann::json& body) {
  http_response r(static_cast<web::http::status_code>(status));
  r.set_body(body.dump(), "application/json");
  req.reply(r);
}

void reply_error(const http_request& req, int status, const std::string& msg) { reply_json(req, status, {{"error", msg}}); }

std::string default_name(const std::string& bundle_dir) {
  std::ifstream in(bundle_dir + "/variant.json");
  if (in) {
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded() && j.contains("serving") && j["serving"].contains("model_name")) return j["serving"]["model_name"].get<std::string>();
  }
  return "model";
}

nlohmann::json io_json(const std::vector<InferModel::IoSpec>& specs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& s : specs) a.push_back({{"name", s.name}, {"datatype", dtype_to_v2(s.dtype)}, {"shape", s.dims}});
  return a;
}

// The keys a client may present, kept as SHA-256 digests so the comparison is over fixed-length
// values (CRYPTO_memcmp: no timing hint of how much of a key matched).
class InferKeys {
 public:
  explicit InferKeys(const std::string& file) {
    if (file.empty()) return;
    std::ifstream in(file);
    if (!in) throw Error(ErrorCode::kInvalidArgument, "invalid-config", "cannot read --api-key-file " + file);
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      if (line.size() < 16)
        throw Error(ErrorCode::kInvalidArgument, "invalid-config", "keys in " + file + " must be at least 16 characters");
      digests_.push_back(Sha256::of(line));
    }
    if (digests_.empty()) throw Error(ErrorCode::kInvalidArgument, "invalid-config", file + " holds no key");
  }
  bool required() const { return !digests_.empty(); }
  bool accepts(const http_request& req) const {
    auto it = req.headers().find("Authorization");
    if (it == req.headers().end() || it->second.rfind("Bearer ", 0) != 0) return false;
    const auto digest = Sha256::of(std::string_view(it->second).substr(7));
    bool ok = false;
    for (const auto& d : digests_) ok |= CRYPTO_memcmp(d.data(), digest.data(), d.size()) == 0;
    return ok;
  }

 private:
  std::vector<std::string> digests_;
};

class InferServer {
 public:
  InferServer(InferModel& model, std::size_t max_bytes, const InferKeys& keys) : model_(model), max_bytes_(max_bytes), keys_(keys) {}

  // `body`: the request body, already read (and within the limit) by the listener.
  void handle(const http_request& req, const std::string& body = {}) {
    const auto path = web::uri::decode(req.relative_uri().path());
    const auto method = req.method();
    const auto start = std::chrono::steady_clock::now();
    int status = 200;
    try {
      status = route(req, method, path, body);
    } catch (const Error& e) {
      status = e.code() == ErrorCode::kInvalidArgument || e.code() == ErrorCode::kUnprocessable ? 400 : 500;
      reply_error(req, status, e.what());
    } catch (const std::exception& e) {
      status = 500;
      reply_error(req, status, e.what());
    }
    spdlog::debug("{} {} {} {:.2f}ms", method, path, status,
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }

 private:
  int route(const http_request& req, const std::string& method, const std::string& path, const std::string& body) {
    static const std::regex model_re(R"(^/v2/models/([^/]+)(/versions/[^/]+)?(/ready|/infer|/stats)?/?$)");
    if (method == "GET" && (path == "/v2/health/live" || path == "/v2/health/ready")) {
      reply_json(req, 200, {{path == "/v2/health/live" ? "live" : "ready", true}});
      return 200;
    }
    // Health stays open for the kubelet's probes; everything else needs a key when keys exist.
    if (keys_.required() && !keys_.accepts(req)) {
      http_response r(web::http::status_codes::Unauthorized);
      r.headers().add("WWW-Authenticate", "Bearer");
      r.set_body(nlohmann::json{{"error", "send a valid API key as 'Authorization: Bearer <key>'"}}.dump(), "application/json");
      req.reply(r);
      return 401;
    }
    if (method == "GET" && (path == "/v2" || path == "/v2/")) {
      reply_json(req, 200, {{"name", "aifgen"}, {"version", AIFGEN_VERSION}, {"extensions", {"binary_tensor_data"}}});
      return 200;
    }
    std::smatch m;
    if (!std::regex_match(path, m, model_re)) {
      reply_error(req, 404, "no route " + method + " " + path);
      return 404;
    }
    if (m[1].str() != model_.name()) {
      reply_error(req, 404, "unknown model '" + m[1].str() + "'; this server serves '" + model_.name() + "'");
      return 404;
    }
    const std::string action = m[3].str();
    if (method == "GET" && action.empty()) {
      reply_json(req, 200, {{"name", model_.name()}, {"versions", {"1"}}, {"platform", "onnx"},
                            {"inputs", io_json(model_.inputs())}, {"outputs", io_json(model_.outputs())},
                            {"parameters", {{"batched", model_.batched()}}}});
      return 200;
    }
    if (method == "GET" && action == "/ready") {
      reply_json(req, 200, {{"name", model_.name()}, {"ready", true}});
      return 200;
    }
    if (method == "GET" && action == "/stats") {
      // The statistics extension's counters: requests answered, and runs of the engine (fewer
      // when requests were batched together).
      reply_json(req, 200, {{"model_stats", {{{"name", model_.name()}, {"version", "1"}, {"inference_count", model_.requests_run()},
                                              {"execution_count", model_.batches_run()}}}}});
      return 200;
    }
    if (method == "POST" && action == "/infer") return infer(req, body);
    reply_error(req, 405, method + " is not allowed on " + path);
    return 405;
  }

  int infer(const http_request& req, const std::string& body) {
    std::size_t header_length = 0;
    if (req.headers().has("Inference-Header-Content-Length")) {
      try {
        header_length = std::stoull(req.headers().find("Inference-Header-Content-Length")->second);
      } catch (const std::exception&) {
        throw Error(ErrorCode::kInvalidArgument, "infer-bad-request", "Inference-Header-Content-Length is not a number");
      }
    }
    auto request = decode_request(body, header_length);
    std::vector<engine::Tensor> inputs;
    for (const auto& spec : model_.inputs()) {
      auto it = request.inputs.find(spec.name);
      if (it == request.inputs.end()) throw Error(ErrorCode::kInvalidArgument, "infer-bad-request", "input '" + spec.name + "' is missing");
      inputs.push_back(std::move(it->second));
      request.inputs.erase(it);
    }
    if (!request.inputs.empty())
      throw Error(ErrorCode::kInvalidArgument, "infer-bad-request", "the model has no input '" + request.inputs.begin()->first + "'");
    auto outs = model_.infer(std::move(inputs));
    std::vector<std::pair<std::string, engine::Tensor>> named;
    for (std::size_t k = 0; k < outs.size(); ++k) {
      const auto& name = model_.outputs()[k].name;
      if (request.outputs.empty() || std::find(request.outputs.begin(), request.outputs.end(), name) != request.outputs.end())
        named.emplace_back(name, std::move(outs[k]));
    }
    for (const auto& want : request.outputs) {
      bool found = false;
      for (const auto& [n, _] : named) found = found || n == want;
      if (!found) throw Error(ErrorCode::kInvalidArgument, "infer-bad-request", "the model has no output '" + want + "'");
    }
    auto encoded = encode_response(model_.name(), request.id, named, request.binary_outputs, request.binary_by_default);
    http_response r(web::http::status_codes::OK);
    if (encoded.header_length) {
      r.headers().add("Inference-Header-Content-Length", std::to_string(encoded.header_length));
      r.set_body(std::vector<unsigned char>(encoded.body.begin(), encoded.body.end()));
      r.headers().set_content_type("application/octet-stream");
    } else {
      r.set_body(encoded.body, "application/json");
    }
    req.reply(r);
    return 200;
  }

  InferModel& model_;
  std::size_t max_bytes_;
  const InferKeys& keys_;
};

// Reads a request body chunk by chunk as it arrives, on cpprest's continuations (no thread
// waits for a slow sender), and stops keeping it at `max` bytes: 413, and the body stream is
// closed so the rest is dropped as it arrives instead of buffered. Content-Length is not trusted
// for this: a chunked request has none.
class BodyReader : public std::enable_shared_from_this<BodyReader> {
 public:
  using Done = std::function<void(const http_request&, const std::string&)>;
  BodyReader(http_request req, std::size_t max, Done done) : req_(std::move(req)), max_(max), done_(std::move(done)) {}

  void next() {
    auto self = shared_from_this();
    auto buf = req_.body().streambuf();
    buf.getn(chunk_.data(), chunk_.size()).then([self, buf](pplx::task<size_t> t) mutable {
      std::size_t n = 0;
      try {
        n = t.get();
      } catch (const std::exception& e) {
        spdlog::debug("request body not received: {}", e.what());  // the sender went away
        return;
      }
      if (n == 0) {
        self->done_(self->req_, self->body_);
        return;
      }
      if (self->body_.size() + n > self->max_) {
        reply_error(self->req_, 413, "the request body is larger than " + std::to_string(self->max_) + " bytes");
        // Closed: cpprest's further writes into the body are no-ops, so the rest of the body is
        // read and dropped, never kept. (cpprest sends the reply only once the body has ended;
        // closing the stream with an exception instead made it buffer the rest: measured.)
        buf.close(std::ios_base::in | std::ios_base::out).wait();
        return;
      }
      self->body_.append(reinterpret_cast<const char*>(self->chunk_.data()), n);
      self->next();
    });
  }

 private:
  http_request req_;
  std::size_t max_;
  Done done_;
  std::string body_;
  std::vector<std::uint8_t> chunk_ = std::vector<std::uint8_t>(64 * 1024);
};

}  // namespace

int run_infer_server(const InferServerOptions& o) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  try {
    if (!std::filesystem::exists(o.bundle_dir + "/model.onnx"))
      throw Error(ErrorCode::kInvalidArgument, "bundle-invalid",
                  o.bundle_dir + " has no model.onnx (infer-server serves the CPU targets' bundles)");
    const std::string name = o.name.empty() ? default_name(o.bundle_dir) : o.name;
    InferKeys keys(o.api_key_file);
    InferModel model(o.bundle_dir, name, o.infer);
    InferServer server(model, o.max_request_bytes, keys);
    bool tls = false;
    auto cfg = listener_config(o.tls_cert, o.tls_key, std::chrono::seconds(120), tls);
    web::http::experimental::listener::http_listener listener((tls ? "https://" : "http://") + o.listen, cfg);
    listener.support([&server, max = o.max_request_bytes](http_request req) {
      // An inference body is read whole before the request is handled, and cpprest delivers it
      // on the same threads that would run the handler: waiting for it there lets a few slow or
      // stalled senders hold every thread. So the body is collected on continuations and the
      // handler runs once it is complete. Requests without a body, and ones already too large
      // by their Content-Length (413 at once), are handled right away.
      if (req.method() != web::http::methods::POST) {
        server.handle(req);
        return;
      }
      if (req.headers().content_length() > max) {
        reply_error(req, 413, "the request body is larger than " + std::to_string(max) + " bytes");
        return;
      }
      std::make_shared<BodyReader>(req, max, [&server](const http_request& r, const std::string& body) { server.handle(r, body); })->next();
    });
    listener.open().wait();
    spdlog::info("aifgen infer-server: model '{}' ({} input(s), {}) on {}://{}{}", name, model.inputs().size(),
                 model.batched() ? "batching up to " + std::to_string(o.infer.max_batch) : "no batching", tls ? "https" : "http",
                 o.listen, keys.required() ? ", API key required" : "");
    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("signal {}: stopping after {} request(s) in {} run(s)", sig, model.requests_run(), model.batches_run());
    listener.close().wait();
    return 0;
  } catch (const Error& e) {
    spdlog::critical("infer-server cannot start: {} ({})", e.what(), e.type());
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("infer-server cannot start: {}", e.what());
    return 2;
  }
}

}  // namespace aifgen::api
