// What a handler gets: the cpprest request, path parameters from the route template, the
// decoded query, and the App. A handler answers exactly once through respond(), now or later
// (long polls keep the Responder), so every answer is logged and counted in one place.
#pragma once

#include <cpprest/http_msg.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "service/app.h"

namespace aifgen::api {

// The logger that gets one line per answered request, when the program registers one under
// this name (`serve` does, with a buffered sink); otherwise request lines go to the default.
inline constexpr std::string_view kAccessLoggerName = "access";

// Sends the one response of a request, then logs it and records its metrics.
class Responder {
 public:
  Responder(web::http::http_request request, std::string route, Metrics& metrics)
      : request_(std::move(request)), route_(std::move(route)), metrics_(metrics),
        start_(std::chrono::steady_clock::now()) {}
  void send(web::http::http_response response);
  bool sent() const { return sent_; }

 private:
  web::http::http_request request_;
  std::string route_;
  Metrics& metrics_;
  std::chrono::steady_clock::time_point start_;
  bool sent_ = false;
};

struct RequestContext {
  web::http::http_request request;
  std::shared_ptr<Responder> responder;
  std::map<std::string, std::string> params;  // {id} -> value
  std::map<std::string, std::string> query;
  App& app;
  // Whether the caller may change state (a write or admin key, or local-only mode without
  // keys): a GET that would start work (the on-demand variant route) checks it.
  bool may_write = true;

  std::optional<std::string> query_param(const std::string& key) const {
    auto it = query.find(key);
    if (it == query.end()) return std::nullopt;
    return it->second;
  }
  // Integer query parameter within [lo, hi]; throws Error(kInvalidArgument, "invalid-parameter").
  int query_int(const std::string& key, int dflt, int lo, int hi) const;
  std::optional<std::string> header(const std::string& name) const;
  void respond(web::http::http_response r) const { responder->send(std::move(r)); }
};

web::http::http_response json_response(int status, const nlohmann::json& body);

// Reads the whole body as JSON (object required), refusing bodies over `max_bytes` (413) and
// non-JSON content types (415). Throws Error.
nlohmann::json read_json_object(const RequestContext& ctx, std::size_t max_bytes = 64 * 1024);

// Reads the next piece of the request body into `data` (at most `size` bytes), waiting for it to
// arrive; 0 at the end. A connection that drops or is shut down mid-body is the client's
// incomplete request, not a service fault: Error(kInvalidArgument, "body-incomplete").
std::size_t read_body_chunk(const RequestContext& ctx, uint8_t* data, std::size_t size);

}  // namespace aifgen::api
