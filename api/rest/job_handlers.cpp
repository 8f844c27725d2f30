// /v1/jobs: submit, list, get (ETag + long poll), cancel.
#include "api/rest/handlers.h"
#include "api/rest/job_request.h"
#include "api/rest/json_views.h"
#include "core/base/error.h"

namespace aifgen::api {
namespace {

void submit_job(RequestContext& ctx) {
  auto req = parse_job_request(read_json_object(ctx));
  if (auto key = ctx.header("Idempotency-Key")) {
    if (key->empty() || key->size() > 200)
      throw Error(ErrorCode::kInvalidArgument, "invalid-header", "Idempotency-Key must be 1 to 200 characters");
    req.idempotency_key = *key;
  }
  auto result = ctx.app.jobs().submit(req);
  auto r = json_response(result.created ? 202 : 200, job_json(result.job));
  r.headers().add("Location", "/v1/jobs/" + result.job.id);
  r.headers().add("ETag", job_etag(result.job.id, result.job.version));
  ctx.respond(r);
}

void list_jobs(RequestContext& ctx) {
  int limit = ctx.query_int("limit", 100, 1, 1000), offset = ctx.query_int("offset", 0, 0, 1 << 30);
  nlohmann::json items = nlohmann::json::array();
  for (const auto& j : ctx.app.jobs().list(ctx.query_param("state"), limit, offset)) items.push_back(job_json(j));
  ctx.respond(json_response(200, {{"items", items}, {"limit", limit}, {"offset", offset}}));
}

// 304 when If-None-Match names the current version; with ?wait=S, parks the request until the
// version changes or S seconds pass.
void get_job(RequestContext& ctx, LongPoller& poller) {
  const std::string id = ctx.params["id"];
  int wait = ctx.query_int("wait", 0, 0, ctx.app.config().max_long_poll_s);
  auto inm = ctx.header("If-None-Match");
  if (!inm) {  // plain read: one lookup of the whole job
    ctx.respond(job_response(ctx.app, id));
    return;
  }
  // Conditional read (dashboards polling): the version alone decides, the body only if needed.
  auto version = ctx.app.jobs().version(id);
  if (!version) throw Error(ErrorCode::kNotFound, "job-not-found", "no job with id " + id);
  bool unchanged = *inm == job_etag(id, *version) || *inm == "*";
  if (!unchanged) {
    ctx.respond(job_response(ctx.app, id));
    return;
  }
  if (wait > 0) {
    if (poller.park(ctx, id, *version, std::chrono::steady_clock::now() + std::chrono::seconds(wait))) return;
    // Too many parked already: a 503 with Retry-After, so the client polls again a bit later.
    throw Error(ErrorCode::kUnavailable, "too-many-long-polls",
                "the service holds " + std::to_string(ctx.app.config().max_long_polls) +
                    " parked long polls already; retry, or poll without ?wait=");
  }
  web::http::http_response r(web::http::status_codes::NotModified);
  r.headers().add("ETag", job_etag(id, *version));
  ctx.respond(r);
}

void cancel_job(RequestContext& ctx) {
  auto job = ctx.app.jobs().cancel(ctx.params["id"]);
  auto r = json_response(202, job_json(job));
  r.headers().add("ETag", job_etag(job.id, job.version));
  ctx.respond(r);
}

}  // namespace

void add_job_routes(Router& r, LongPoller& poller) {
  r.add("POST", "/v1/jobs", submit_job);
  r.add("GET", "/v1/jobs", list_jobs);
  r.add("GET", "/v1/jobs/{id}", [&poller](RequestContext& ctx) { get_job(ctx, poller); });
  r.add("POST", "/v1/jobs/{id}/cancel", cancel_job);
}

}  // namespace aifgen::api
