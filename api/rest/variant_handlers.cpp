// /v1/variants: list, get (with the variant report), download the bundle.
#include <cpprest/filestream.h>

#include "api/rest/handlers.h"
#include "api/rest/json_views.h"
#include "api/rest/problem.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <sstream>
#include "core/base/clock.h"
#include "core/base/sha256.h"

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


std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A measurement of the deployed variant on real hardware (aifgen loadgen --report-to posts it).
void report_benchmark(RequestContext& ctx) {
  auto body = read_json_object(ctx);
  static const char* kKnown[] = {"host", "hardware", "threads", "concurrency", "batch", "requests", "p50_ms", "p90_ms",
                                 "p99_ms", "throughput_per_s"};
  for (const auto& [key, _] : body.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) throw Error(ErrorCode::kInvalidArgument, "unknown-field", "unknown field '" + key + "'", std::vector<std::string>(std::begin(kKnown), std::end(kKnown)));
  }
  auto invalid = [](const std::string& m) { throw Error(ErrorCode::kInvalidArgument, "invalid-field", m); };
  auto number = [&](const char* key, bool required) -> double {
    if (!body.contains(key)) {
      if (required) invalid(std::string("'") + key + "' is required");
      return 0;
    }
    if (!body[key].is_number() || !std::isfinite(body[key].get<double>()) || body[key].get<double>() < 0)
      invalid(std::string("'") + key + "' must be a non-negative number");
    return body[key].get<double>();
  };
  auto integer = [&](const char* key, std::int64_t dflt) -> std::int64_t {
    if (!body.contains(key)) return dflt;
    if (!body[key].is_number_integer() || body[key].get<std::int64_t>() < 1 || body[key].get<std::int64_t>() > (1 << 30))
      invalid(std::string("'") + key + "' must be a positive integer");
    return body[key].get<std::int64_t>();
  };
  BenchmarkRecord b;
  if (!body.contains("host") || !body["host"].is_string() || body["host"].get<std::string>().empty() || body["host"].get<std::string>().size() > 500)
    invalid("'host' (a description of the machine, 1-500 characters) is required");
  b.host = body["host"].get<std::string>();
  if (body.contains("hardware")) {
    if (!body["hardware"].is_object() || body["hardware"].dump().size() > 8192) invalid("'hardware' must be an object (at most 8 KiB)");
    b.hardware_json = body["hardware"].dump();
  }
  b.p50_ms = number("p50_ms", true);
  b.p90_ms = number("p90_ms", true);
  b.p99_ms = number("p99_ms", true);
  b.throughput_per_s = number("throughput_per_s", true);
  if (!(b.p50_ms <= b.p90_ms && b.p90_ms <= b.p99_ms)) invalid("percentiles must satisfy p50_ms <= p90_ms <= p99_ms");
  b.threads = integer("threads", 1);
  b.concurrency = integer("concurrency", 1);
  b.batch = integer("batch", 1);
  b.iterations = integer("requests", 1);
  auto stored = ctx.app.jobs().add_field_benchmark(ctx.params["id"], b);
  ctx.respond(json_response(201, benchmark_json(stored)));
}

// GET /v1/models/{id}/variants/{target}/{precision}: 200 with the built variant, or 202 with the
// job making it (started by the first ask, joined by later ones). Starting one needs write scope:
// a read key gets 403 (it may still join a job already under way).
void on_demand(RequestContext& ctx) {
  ctx.app.models().get(ctx.params["id"]);
  const bool retry = ctx.query_param("retry").value_or("") == "true";
  auto r = ctx.app.catalog().on_demand(ctx.params["id"], ctx.params["target"], ctx.params["precision"], retry, ctx.may_write);
  if (r.ready) {
    auto resp = json_response(200, variant_json(*r.ready, false));
    resp.headers().add("Location", "/v1/variants/" + r.ready->id);
    ctx.respond(resp);
    return;
  }
  auto resp = json_response(202, job_json(*r.job));
  resp.headers().add("Location", "/v1/jobs/" + r.job->id);
  resp.headers().add("Retry-After", "2");
  ctx.respond(resp);
}

void recommendation(RequestContext& ctx) {
  const std::string model_id = ctx.params["id"];
  ctx.app.models().get(model_id);
  double max_drop = 1;
  if (auto s = ctx.query_param("max_accuracy_drop")) {
    try {
      std::size_t used = 0;
      max_drop = std::stod(*s, &used);
      if (used != s->size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw Error(ErrorCode::kInvalidArgument, "invalid-parameter", "max_accuracy_drop must be a number in [0, 1]");
    }
  }
  std::vector<std::string> targets;
  if (auto t = ctx.query_param("targets")) {
    std::stringstream ss(*t);
    std::string id;
    while (std::getline(ss, id, ','))
      if (!id.empty()) targets.push_back(id);
  }
  auto rec = ctx.app.catalog().recommend(model_id, ctx.query_param("objective").value_or("latency"), max_drop, targets);
  auto entry = [&](const RankedVariant& r) {
    nlohmann::json j = {{"variant_id", r.variant.id}, {"target", r.variant.target}, {"precision", r.variant.precision},
                        {"validation", r.variant.validation ? nlohmann::json(*r.variant.validation) : nlohmann::json(nullptr)},
                        {"accuracy_drop", r.accuracy_drop}};
    if (r.figure) {
      j["value"] = r.value;
      j["metric"] = rec.objective == "latency" ? "p50_ms" : "throughput_per_s";
      j["figure"] = benchmark_json(*r.figure);
    }
    return j;
  };
  nlohmann::json ranked = nlohmann::json::array(), unmeasured = nlohmann::json::array(), excluded = nlohmann::json::array();
  for (const auto& r : rec.ranked) ranked.push_back(entry(r));
  for (const auto& r : rec.unmeasured) unmeasured.push_back(entry(r));
  for (const auto& [v, why] : rec.excluded) excluded.push_back({{"variant_id", v.id}, {"target", v.target}, {"precision", v.precision}, {"reason", why}});
  ctx.respond(json_response(200, {{"model_id", model_id}, {"objective", rec.objective}, {"max_accuracy_drop", rec.max_accuracy_drop},
                                  {"ranked", ranked}, {"unmeasured", unmeasured}, {"excluded", excluded},
                                  {"method", "each variant's newest field benchmark (origin 'field'), else its local one; accuracy drop = 1 - the worst output's top-1 agreement (cosine similarity for non-class outputs)"}}));
}

// A signed, expiring URL for the bundle (GET /v1/bundles/{id}?expires=&sig=), for tools that
// fetch without an API key.
void download_link(RequestContext& ctx) {
  const std::string id = ctx.params["id"];
  auto ref = ctx.app.jobs().artifact(id);
  auto link = ctx.app.links().sign("GET", "/v1/bundles/" + id, now_s());
  auto r = json_response(200, {{"url", link.url}, {"expires_at", iso8601_utc_seconds(link.expires)}, {"sha256", ref.sha256},
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
  r.add("POST", "/v1/variants/{id}/benchmarks", report_benchmark);
  r.add("GET", "/v1/models/{id}/variants/{target}/{precision}", on_demand);
  r.add("GET", "/v1/models/{id}/recommendation", recommendation);
}

}  // namespace aifgen::api
