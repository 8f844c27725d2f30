// Health, readiness, metrics and the target list.
#include "api/rest/handlers.h"
#include "api/rest/json_views.h"
#include "api/rest/problem.h"
#include "targets/registry.h"

namespace aifgen::api {
namespace {

void healthz(RequestContext& ctx) { ctx.respond(json_response(200, {{"status", "ok"}})); }

// Ready when the database answers and the service is not shutting down.
void readyz(RequestContext& ctx) {
  if (!ctx.app.ready()) {
    ctx.respond(problem_response(503, "not-ready", "the service is shutting down"));
    return;
  }
  auto counts = ctx.app.jobs().counts();  // throws (-> 500) when the database is unusable
  const bool local_only = !ctx.app.keys_required();
  ctx.respond(json_response(200, {{"status", "ready"}, {"workers", ctx.app.config().workers},
                                  {"queue_depth", counts[state_name(RunState::kQueued)]},
                                  {"running", counts[state_name(RunState::kRunning)]},
                                  {"auth", local_only ? "local-only" : "api-keys"},
                                  {"note", local_only ? "no API key exists: loopback only, requests need no key" : ""}}));
}

void metrics(RequestContext& ctx) {
  web::http::http_response r(web::http::status_codes::OK);
  r.set_body(ctx.app.metrics().render(ctx.app.jobs().counts()), "text/plain; version=0.0.4; charset=utf-8");
  ctx.respond(r);
}

// With ?model_id=, each target also says how it would run that model.
void list_targets(RequestContext& ctx) {
  std::optional<std::map<std::string, std::int64_t>> census;
  if (auto id = ctx.query_param("model_id")) {
    auto info = nlohmann::json::parse(ctx.app.models().get(*id).info_json);
    census = info.value("op_census", std::map<std::string, std::int64_t>{});
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto* t : all_targets()) {
    auto j = target_json(t->descriptor());
    if (census) j["support"] = support_json(t->assess(*census));
    items.push_back(std::move(j));
  }
  ctx.respond(json_response(200, {{"items", items}}));
}

}  // namespace

void add_probe_routes(Router& r) {
  r.add("GET", "/healthz", healthz);
  r.add("GET", "/readyz", readyz);
  r.add("GET", "/metrics", metrics);
}

void add_operations_routes(Router& r) { r.add("GET", "/v1/targets", list_targets); }

}  // namespace aifgen::api
