// Request helpers: query parsing, headers, JSON bodies.
#include "api/rest/request_context.h"

#include <spdlog/spdlog.h>

#include "core/base/error.h"

namespace aifgen::api {
namespace {

spdlog::logger& access_logger() {
  // Looked up once: the registry lookup takes a lock, and the logger lives as long as the program.
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::get(std::string(kAccessLoggerName));
    return l ? l : spdlog::default_logger();
  }();
  return *logger;
}

}  // namespace

void Responder::send(web::http::http_response response) {
  if (sent_) return;
  sent_ = true;
  int status = response.status_code();
  if (!response.headers().has("Cache-Control")) response.headers().add("Cache-Control", "no-cache");
  // Count the request before the client can see the answer, so a scrape that follows it
  // always includes it.
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  metrics_.observe_request(request_.method(), route_, status, secs);
  access_logger().info("{} {} {} {:.2f}ms", request_.method(), request_.relative_uri().to_string(), status, secs * 1000);
  request_.reply(response).then([](pplx::task<void> t) {
    try {
      t.get();
    } catch (const std::exception& e) {
      spdlog::debug("reply not delivered: {}", e.what());  // client went away
    }
  });
}

int RequestContext::query_int(const std::string& key, int dflt, int lo, int hi) const {
  auto v = query_param(key);
  if (!v) return dflt;
  try {
    std::size_t used = 0;
    long n = std::stol(*v, &used);
    if (used != v->size() || n < lo || n > hi) throw std::out_of_range(key);
    return static_cast<int>(n);
  } catch (const std::exception&) {
    throw Error(ErrorCode::kInvalidArgument, "invalid-parameter",
                "query parameter '" + key + "' must be an integer from " + std::to_string(lo) + " to " +
                    std::to_string(hi));
  }
}

std::optional<std::string> RequestContext::header(const std::string& name) const {
  auto& h = request.headers();
  auto it = h.find(name);
  if (it == h.end()) return std::nullopt;
  return it->second;
}

web::http::http_response json_response(int status, const nlohmann::json& body) {
  web::http::http_response r(static_cast<web::http::status_code>(status));
  r.set_body(body.dump(), "application/json");
  return r;
}

nlohmann::json read_json_object(const RequestContext& ctx, std::size_t max_bytes) {
  auto ct = ctx.header("Content-Type").value_or("");
  auto base = ct.substr(0, ct.find(';'));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  if (base != "application/json")
    throw Error(ErrorCode::kUnsupportedMedia, "unsupported-media-type",
                "send the request body as application/json (got '" + ct + "')");
  auto len = ctx.request.headers().content_length();
  if (len > max_bytes)
    throw Error(ErrorCode::kTooLarge, "body-too-large", "JSON bodies are limited to " + std::to_string(max_bytes) + " bytes");
  std::string body;
  std::vector<uint8_t> chunk(16 * 1024);
  for (;;) {
    auto n = read_body_chunk(ctx, chunk.data(), chunk.size());
    if (n == 0) break;
    body.append(reinterpret_cast<const char*>(chunk.data()), n);
    if (body.size() > max_bytes)
      throw Error(ErrorCode::kTooLarge, "body-too-large", "JSON bodies are limited to " + std::to_string(max_bytes) + " bytes");
  }
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(ErrorCode::kInvalidArgument, "malformed-json", "the request body is not valid JSON");
  if (!j.is_object()) throw Error(ErrorCode::kInvalidArgument, "malformed-json", "the request body must be a JSON object");
  return j;
}

std::size_t read_body_chunk(const RequestContext& ctx, uint8_t* data, std::size_t size) {
  try {
    return ctx.request.body().streambuf().getn(data, size).get();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, "body-incomplete", std::string("the request body ended early: ") + e.what());
  }
}

}  // namespace aifgen::api
