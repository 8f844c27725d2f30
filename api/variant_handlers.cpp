// /v1/variants: list, get (with the variant report), download the bundle.
#include <cpprest/filestream.h>

#include "api/handlers.h"
#include "api/json_views.h"
#include "core/sha256.h"

namespace aifgen::api {
namespace {

void list_variants(RequestContext& ctx) {
  int limit = ctx.query_int("limit", 100, 1, 1000), offset = ctx.query_int("offset", 0, 0, 1 << 30);
  nlohmann::json items = nlohmann::json::array();
  for (const auto& v : ctx.app.jobs().variants(ctx.query_param("model_id"), ctx.query_param("job_id"), limit, offset))
    items.push_back(variant_json(v, false));
  ctx.respond(json_response(200, {{"items", items}, {"limit", limit}, {"offset", offset}}));
}

void get_variant(RequestContext& ctx) {
  auto body = variant_json(ctx.app.jobs().variant(ctx.params["id"]), true);
  body["benchmarks"] = nlohmann::json::array();
  for (const auto& b : ctx.app.jobs().benchmarks(ctx.params["id"])) body["benchmarks"].push_back(benchmark_json(b));
  ctx.respond(json_response(200, body));
}

// Streams the bundle from disk; the ETag and Digest carry its sha256 (checked before serving).
void download_variant(RequestContext& ctx) {
  auto ref = ctx.app.jobs().artifact(ctx.params["id"]);
  std::string etag = "\"" + ref.sha256 + "\"";
  if (ctx.header("If-None-Match") == etag) {
    web::http::http_response r(web::http::status_codes::NotModified);
    r.headers().add("ETag", etag);
    ctx.respond(r);
    return;
  }
  auto stream = concurrency::streams::fstream::open_istream(ref.path, std::ios::in | std::ios::binary).get();
  web::http::http_response r(web::http::status_codes::OK);
  r.set_body(stream, static_cast<utility::size64_t>(ref.size), "application/gzip");
  r.headers().add("ETag", etag);
  r.headers().add("Digest", "sha-256=" + hex_digest_to_base64(ref.sha256));  // RFC 3230
  r.headers().add("Repr-Digest", "sha-256=:" + hex_digest_to_base64(ref.sha256) + ":");  // RFC 9530
  r.headers().add("Content-Disposition", "attachment; filename=\"" + ref.file_name + "\"");
  ctx.respond(r);
}

}  // namespace

void add_variant_routes(Router& r) {
  r.add("GET", "/v1/variants", list_variants);
  r.add("GET", "/v1/variants/{id}", get_variant);
  r.add("GET", "/v1/variants/{id}/download", download_variant);
}

}  // namespace aifgen::api
