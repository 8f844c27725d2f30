// The REST listener: cpprest http_listener on `Config::listen`, every request routed through
// one dispatch function that maps exceptions to problem+json and logs/counts the answer.
#pragma once

#include <cpprest/http_listener.h>

#include <memory>

#include "api/long_poll.h"
#include "api/rate_limiter.h"
#include "api/router.h"
#include "service/app.h"

namespace aifgen::api {

class Server {
 public:
  explicit Server(App& app);
  ~Server();
  // Starts listening. Throws Error(kInvalidArgument) for a bad listen address, and
  // Error(kUnavailable, "listen-failed") when the port cannot be bound.
  void open();
  void close();
  const Router& router() const { return router_; }

 private:
  void dispatch(web::http::http_request request);
  bool authorize(RequestContext& ctx, const std::string& route, const std::string& method);

  App& app_;
  Router router_;
  std::unique_ptr<LongPoller> poller_;
  RateLimiter limiter_;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
};

}  // namespace aifgen::api
