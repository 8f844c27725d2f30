// /v1/variants: list, get (with the variant report), download the bundle.
#include <cpprest/filestream.h>

#include "api/handlers.h"
#include "api/json_views.h"
#include "api/problem.h"

#include <chrono>
#include <ctime>
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

std::string iso8601_utc(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A signed, expiring URL for the bundle (GET /v1/bundles/{id}?expires=&sig=), for tools that
// fetch without an API key.
void download_link(RequestContext& ctx) {
  const std::string id = ctx.params["id"];
  auto ref = ctx.app.jobs().artifact(id);
  auto link = ctx.app.links().sign("GET", "/v1/bundles/" + id, now_s());
  auto r = json_response(200, {{"url", link.url}, {"expires_at", iso8601_utc(link.expires)}, {"sha256", ref.sha256},
                               {"size_bytes", ref.size}, {"file_name", ref.file_name}});
  r.headers().add("Location", link.url);
  ctx.respond(r);
}

// "bytes=A-B", "bytes=A-" or "bytes=-N" (one range). False when absent or not one of these.
bool parse_range(const std::string& h, std::int64_t size, std::int64_t& first, std::int64_t& last, bool& satisfiable) {
  satisfiable = true;
  if (h.rfind("bytes=", 0) != 0 || h.find(',') != std::string::npos) return false;
  const std::string spec = h.substr(6);
  const auto dash = spec.find('-');
  if (dash == std::string::npos) return false;
  const std::string a = spec.substr(0, dash), b = spec.substr(dash + 1);
  auto number = [](const std::string& s, std::int64_t& v) {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    v = std::stoll(s);
    return true;
  };
  std::int64_t x = 0, y = 0;
  if (a.empty()) {
    if (!number(b, y)) return false;
    if (y == 0) satisfiable = false;
    first = std::max<std::int64_t>(0, size - y);
    last = size - 1;
  } else {
    if (!number(a, x) || (!b.empty() && !number(b, y))) return false;
    if (!b.empty() && y < x) return false;
    first = x;
    last = b.empty() ? size - 1 : std::min(y, size - 1);
    if (x >= size) satisfiable = false;
  }
  return true;
}

// Streams the bundle from disk; the ETag and Digest carry its sha256 (checked before serving).
// Range requests get 206 with Content-Range.
void serve_bundle(RequestContext& ctx) {
  const std::string id = ctx.params["id"];
  ctx.app.links().verify("GET", "/v1/bundles/" + id, ctx.query_param("expires").value_or(""), ctx.query_param("sig").value_or(""), now_s());
  auto ref = ctx.app.jobs().artifact(id);
  std::string etag = "\"" + ref.sha256 + "\"";
  if (ctx.header("If-None-Match") == etag) {
    web::http::http_response r(web::http::status_codes::NotModified);
    r.headers().add("ETag", etag);
    ctx.respond(r);
    return;
  }
  std::int64_t first = 0, last = ref.size - 1;
  bool satisfiable = true;
  const bool ranged = ctx.header("Range") && parse_range(*ctx.header("Range"), ref.size, first, last, satisfiable);
  if (ranged && !satisfiable) {
    auto r = problem_response(416, "range-not-satisfiable", "the bundle has " + std::to_string(ref.size) + " bytes");
    r.headers().add("Content-Range", "bytes */" + std::to_string(ref.size));
    ctx.respond(r);
    return;
  }
  auto stream = concurrency::streams::fstream::open_istream(ref.path, std::ios::in | std::ios::binary).get();
  if (ranged) stream.seek(static_cast<concurrency::streams::istream::pos_type>(first));
  web::http::http_response r(ranged ? web::http::status_codes::PartialContent : web::http::status_codes::OK);
  r.set_body(stream, static_cast<utility::size64_t>(last - first + 1), "application/gzip");
  if (ranged) r.headers().add("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(ref.size));
  r.headers().add("Accept-Ranges", "bytes");
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
  r.add("GET", "/v1/variants/{id}/download", download_link);
  r.add("GET", "/v1/bundles/{id}", serve_bundle);
}

}  // namespace aifgen::api
