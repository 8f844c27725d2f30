// The REST listener: cpprest http_listener on `Config::listen`, every request routed through
// one dispatch function that maps exceptions to problem+json and logs/counts the answer.
#pragma once

#include <cpprest/http_listener.h>

#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "api/rest/dashboard.h"
#include "api/rest/long_poll.h"
#include "api/rest/rate_limiter.h"
#include "api/rest/router.h"
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
  DashboardAssets dashboard_;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  // Requests that carry a body run here, not on cpprest's I/O threads: their handlers wait for
  // the body, which those I/O threads deliver, so a few slow or stalled senders would otherwise
  // hold every I/O thread and freeze all connections (or deadlock with one I/O thread).
  std::unique_ptr<boost::asio::thread_pool> body_pool_;
};

}  // namespace aifgen::api
