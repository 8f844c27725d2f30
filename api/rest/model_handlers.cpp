// /v1/models: upload (streamed), list, get, delete; calibration sets per model.
#include "api/rest/handlers.h"
#include "api/rest/json_views.h"
#include "api/rest/upload_reader.h"
#include "core/base/error.h"

#include <map>
#include <mutex>

namespace aifgen::api {
namespace {

void upload_model(RequestContext& ctx) {
  auto& models = ctx.app.models();
  auto declared = ctx.request.headers().content_length();
  if (declared > models.max_upload_bytes())
    throw Error(ErrorCode::kTooLarge, "upload-too-large",
                "the upload is " + std::to_string(declared) + " bytes; the limit is " +
                    std::to_string(models.max_upload_bytes()) + " bytes");
  auto slot = models.acquire_upload_slot();
  auto sink = models.begin_upload();
  auto fields = read_upload(ctx, [&](const char* p, std::size_t n) { sink->write(p, n); });
  auto result = models.ingest(*sink, fields.name);
  auto r = json_response(result.created ? 201 : 200, model_json(result.model));
  r.headers().add("Location", "/v1/models/" + result.model.id);
  ctx.respond(r);
}

// Listings are cached per (limit, offset) until a model is added or removed: dashboards poll
// them, and each one otherwise re-reads and re-serializes every model record. Not on a shared
// database, where another process's upload would not invalidate the cache.
void list_models(RequestContext& ctx) {
  static std::mutex mu;
  static std::uint64_t cached_generation = 0;
  static std::map<std::pair<int, int>, std::string> cache;
  int limit = ctx.query_int("limit", 100, 1, 1000), offset = ctx.query_int("offset", 0, 0, 1 << 30);
  const auto generation = ctx.app.models().generation();
  std::string body;
  {
    std::lock_guard lock(mu);
    if (cached_generation != generation) {
      cache.clear();
      cached_generation = generation;
    }
    if (auto it = cache.find({limit, offset}); it != cache.end() && ctx.app.models().listings_cacheable()) body = it->second;
  }
  if (body.empty()) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& m : ctx.app.models().list(limit, offset)) items.push_back(model_json(m));
    body = nlohmann::json{{"items", items}, {"limit", limit}, {"offset", offset}}.dump();
    std::lock_guard lock(mu);
    if (cached_generation == generation && cache.size() < 256 && ctx.app.models().listings_cacheable()) cache[{limit, offset}] = body;
  }
  web::http::http_response r(web::http::status_codes::OK);
  r.set_body(body, "application/json");
  ctx.respond(r);
}

void get_model(RequestContext& ctx) { ctx.respond(json_response(200, model_json(ctx.app.models().get(ctx.params["id"])))); }

void delete_model(RequestContext& ctx) {
  ctx.app.models().remove(ctx.params["id"]);
  ctx.respond(web::http::http_response(web::http::status_codes::NoContent));
}

// Raw .npy/.npz body (or multipart field `file`); ?name= gives the file name, whose stem names
// the input for a .npy (any name fits a single-input model).
void upload_calibration(RequestContext& ctx) {
  auto& cal = ctx.app.calibrations();
  const std::string model_id = ctx.params["id"];
  ctx.app.models().get(model_id);  // 404 before reading the body
  auto declared = ctx.request.headers().content_length();
  if (declared > cal.max_bytes())
    throw Error(ErrorCode::kTooLarge, "upload-too-large",
                "the upload is " + std::to_string(declared) + " bytes; the limit is " + std::to_string(cal.max_bytes()) + " bytes");
  auto slot = ctx.app.models().acquire_upload_slot();
  auto sink = cal.begin_upload();
  auto fields = read_upload(ctx, [&](const char* p, std::size_t n) { sink->write(p, n); }, "file");
  std::string name = !fields.name.empty() ? fields.name : !fields.file_name.empty() ? fields.file_name : "calibration";
  ModelService::check_name(name);
  auto rec = cal.add(model_id, *sink, name);
  auto r = json_response(201, calibration_json(rec));
  r.headers().add("Location", "/v1/models/" + model_id + "/calibration/" + rec.id);
  ctx.respond(r);
}

void list_calibrations(RequestContext& ctx) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& c : ctx.app.calibrations().list(ctx.params["id"])) items.push_back(calibration_json(c));
  ctx.respond(json_response(200, {{"items", items}}));
}

}  // namespace

void add_model_routes(Router& r) {
  r.add("POST", "/v1/models", upload_model);
  r.add("GET", "/v1/models", list_models);
  r.add("GET", "/v1/models/{id}", get_model);
  r.add("DELETE", "/v1/models/{id}", delete_model);
  r.add("POST", "/v1/models/{id}/calibration", upload_calibration);
  r.add("GET", "/v1/models/{id}/calibration", list_calibrations);
}

}  // namespace aifgen::api
