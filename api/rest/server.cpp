// Listener setup and request dispatch.
#include "api/rest/server.h"
#include "api/listener_config.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cstdio>

#include "api/rest/handlers.h"
#include "api/rest/problem.h"
#include "core/base/error.h"

namespace aifgen::api {

using web::http::http_request;

Server::Server(App& app)
    : app_(app), poller_(std::make_unique<LongPoller>(app, static_cast<std::size_t>(app.config().max_long_polls))), limiter_(app.config().rate_limit_per_minute) {
  add_probe_routes(router_);
  if (app.config().worker_only) return;  // `aifgen worker`: probes and metrics, nothing public
  add_operations_routes(router_);
  add_model_routes(router_);
  add_job_routes(router_, *poller_);
  add_variant_routes(router_);
  add_dashboard_routes(router_, dashboard_);
}

Server::~Server() { close(); }

void Server::open() {
  const auto& listen = app_.config().listen;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
    throw Error(ErrorCode::kInvalidArgument, "invalid-config", "--listen must be HOST:PORT, got '" + listen + "'");
  bool tls = false;
  // 300 s: uploads of large models over slow links.
  auto cfg = listener_config(app_.config().tls_cert, app_.config().tls_key, std::chrono::seconds(300), tls);
  try {
    listener_ = std::make_unique<web::http::experimental::listener::http_listener>(
        web::uri(utility::conversions::to_string_t((tls ? "https://" : "http://") + listen)), cfg);
    // Sized for every upload the service admits at once plus room for JSON posts; beyond that a
    // body-carrying request waits its turn while GETs (status polls, listings) stay unaffected.
    body_pool_ = std::make_unique<boost::asio::thread_pool>(app_.config().max_concurrent_uploads + 8);
    listener_->support([this](http_request req) {
      const auto& m = req.method();
      // Bundle downloads may re-hash a blob that changed on disk (a disk read of its whole
      // size) and the on-demand GET may insert a job: like bodies, they run on the pool so
      // status polls and /healthz never wait on one.
      const auto path = req.relative_uri().path();
      const bool may_block = path.rfind("/v1/bundles/", 0) == 0 ||
                             (path.rfind("/v1/models/", 0) == 0 && path.find("/variants/") != std::string::npos);
      if (!may_block && (m == web::http::methods::GET || m == web::http::methods::HEAD || m == web::http::methods::OPTIONS))
        dispatch(std::move(req));
      else
        boost::asio::post(*body_pool_, [this, req = std::move(req)]() mutable { dispatch(std::move(req)); });
    });
    listener_->open().wait();
  } catch (const std::exception& e) {
    listener_.reset();
    throw Error(ErrorCode::kUnavailable, "listen-failed", "cannot listen on " + listen + ": " + e.what());
  }
}

void Server::close() {
  if (listener_) {
    try {
      listener_->close().wait();
    } catch (const std::exception& e) {
      spdlog::warn("closing the listener: {}", e.what());
    }
    listener_.reset();
  }
  // Closing the listener ends the connections, so handlers still waiting for a body fail and
  // return; the pool then drains before the objects its handlers use go away.
  if (body_pool_) {
    body_pool_->join();
    body_pool_.reset();
  }
  poller_.reset();
}

// Health and readiness are always open; /metrics needs a read key unless configured public;
// GET needs read, everything else write. Answers 401/403 itself and returns false.
bool Server::authorize(RequestContext& ctx, const std::string& route, const std::string& method) {
  if (route == "/healthz" || route == "/readyz") return true;
  // The dashboard's page and files are public: they hold no data, and the page asks for a key
  // before it calls the API (which checks it).
  if (route == "/" || route == "/assets/{file}") return true;
  if (route == "/v1/bundles/{id}") return true;  // a signed link is its own authorization
  if (route == "/metrics" && app_.config().metrics_public) return true;
  if (!app_.keys_required()) return true;
  const Scope needed = method == "GET" ? Scope::kRead : Scope::kWrite;
  auto header = ctx.header("Authorization").value_or("");
  std::optional<Principal> who;
  if (header.size() > 7 && (header.rfind("Bearer ", 0) == 0 || header.rfind("bearer ", 0) == 0)) who = app_.auth().authenticate(header.substr(7));
  if (!who) {
    auto r = problem_response(401, "unauthorized",
                              header.empty() ? "this route needs an API key: send 'Authorization: Bearer KEY'"
                                             : "the API key is unknown, malformed or revoked");
    r.headers().add("WWW-Authenticate", "Bearer realm=\"aifgen\"");
    ctx.respond(r);
    return false;
  }
  if (int wait = limiter_.take(who->key_id); wait > 0) {
    auto r = problem_response(429, "rate-limited",
                              "key " + who->key_id + " is over " + std::to_string(app_.config().rate_limit_per_minute) +
                                  " requests per minute; retry in " + std::to_string(wait) + " s");
    r.headers().add("Retry-After", std::to_string(wait));
    ctx.respond(r);
    return false;
  }
  ctx.may_write = static_cast<int>(who->scope) >= static_cast<int>(Scope::kWrite);
  if (static_cast<int>(who->scope) < static_cast<int>(needed)) {
    ctx.respond(problem_response(403, "insufficient-scope",
                                 std::string("key ") + who->key_id + " has scope " + scope_name(who->scope) + "; " + method +
                                     " " + route + " needs " + scope_name(needed)));
    return false;
  }
  return true;
}

void Server::dispatch(http_request request) {
  std::string path, raw_query;
  std::map<std::string, std::string> query;
  try {
    auto uri = request.relative_uri();
    path = web::uri::decode(uri.path());
    for (auto& [k, v] : web::uri::split_query(uri.query())) query[web::uri::decode(k)] = web::uri::decode(v);
  } catch (const std::exception&) {
    auto responder = std::make_shared<Responder>(request, "(invalid)", app_.metrics());
    responder->send(problem_response(400, "invalid-uri", "the request URI is not valid"));
    return;
  }
  auto match = router_.match(request.method(), path);
  std::string route = match.route ? match.route->path_template : "(unmatched)";
  RequestContext ctx{request, std::make_shared<Responder>(request, std::move(route), app_.metrics()),
                     std::move(match.params), std::move(query), app_};
  if (!match.route) {
    if (match.path_known) {
      auto r = problem_response(405, "method-not-allowed", request.method() + " is not supported on " + path);
      ctx.respond(r);
    } else {
      ctx.respond(problem_response(404, "route-not-found", "no route for " + path));
    }
    return;
  }
  try {
    if (!authorize(ctx, match.route->path_template, request.method())) return;
    match.route->handler(ctx);
  } catch (...) {
    ctx.respond(problem_response(std::current_exception()));
  }
}

}  // namespace aifgen::api
