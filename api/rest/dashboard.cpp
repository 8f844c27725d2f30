#include "api/rest/dashboard.h"

#include <algorithm>

#include "api/rest/content_encoding.h"
#include "api/rest/embedded_files.h"
#include "api/rest/problem.h"
#include "core/base/error.h"
#include "core/base/sha256.h"

namespace aifgen::api {
namespace {

std::string content_type_of(std::string_view name) {
  auto ends = [&](std::string_view ext) { return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext; };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

// "app.js" + "3f2a9c1be0d4" -> "app.3f2a9c1be0d4.js"
std::string hashed_name(const std::string& name, const std::string& hash) {
  auto dot = name.rfind('.');
  return dot == std::string::npos ? name + "." + hash : name.substr(0, dot) + "." + hash + name.substr(dot);
}

constexpr const char* kImmutable = "public, max-age=31536000, immutable";
constexpr const char* kRevalidate = "no-cache";

// Everything the page loads comes from this origin; nothing inline, nothing from elsewhere.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

void serve(RequestContext& ctx, const DashboardAsset& a) {
  auto inm = ctx.header("If-None-Match");
  web::http::http_response r(200);
  const bool not_modified = inm && *inm == a.etag;
  if (not_modified) r.set_status_code(304);
  r.headers().add("ETag", a.etag);
  r.headers().add("Cache-Control", a.cache_control);
  r.headers().add("Vary", "Accept-Encoding");
  r.headers().add("X-Content-Type-Options", "nosniff");
  if (a.name == "index.html") {
    r.headers().add("Content-Security-Policy", kContentSecurityPolicy);
    r.headers().add("Referrer-Policy", "no-referrer");
  }
  if (not_modified) {
    ctx.respond(r);
    return;
  }
  if (accepts_gzip(ctx.header("Accept-Encoding").value_or(""))) {
    r.headers().add("Content-Encoding", "gzip");
    r.set_body(std::string(a.gzip), a.content_type);
  } else {
    r.set_body(std::string(a.body), a.content_type);
  }
  ctx.respond(r);
}

}  // namespace

DashboardAssets::DashboardAssets() {
  std::map<std::string, std::string> renamed;  // plain -> hashed, for index.html's references
  const EmbeddedFile* index = nullptr;
  for (const auto& f : dashboard_files()) {
    if (f.name == "index.html") {
      index = &f;
      continue;
    }
    DashboardAsset a;
    a.body.assign(reinterpret_cast<const char*>(f.data), f.size);
    a.content_type = content_type_of(f.name);
    const std::string hash = Sha256::of(a.body).substr(0, 12);
    a.etag = "\"" + hash + "\"";
    a.gzip = gzip_compress(a.body);
    a.name = hashed_name(std::string(f.name), hash);
    a.cache_control = kImmutable;
    renamed[std::string(f.name)] = a.name;
    assets_[a.name] = a;
    a.name = std::string(f.name);
    a.cache_control = kRevalidate;
    assets_[a.name] = std::move(a);
  }
  if (!index) throw Error(ErrorCode::kInternal, "internal", "the dashboard's index.html was not embedded");
  DashboardAsset page;
  page.name = "index.html";
  page.body.assign(reinterpret_cast<const char*>(index->data), index->size);
  for (const auto& [plain, hashed] : renamed)
    for (std::size_t at = 0; (at = page.body.find("/assets/" + plain + "\"", at)) != std::string::npos;) {
      page.body.replace(at + 8, plain.size(), hashed);
      at += 8 + hashed.size();
    }
  page.content_type = content_type_of(page.name);
  page.etag = "\"" + Sha256::of(page.body).substr(0, 12) + "\"";
  page.gzip = gzip_compress(page.body);
  page.cache_control = kRevalidate;
  assets_["index.html"] = std::move(page);
}

const DashboardAsset* DashboardAssets::find(std::string_view name) const {
  auto it = assets_.find(name);
  return it == assets_.end() ? nullptr : &it->second;
}

void add_dashboard_routes(Router& r, const DashboardAssets& assets) {
  r.add("GET", "/", [&assets](RequestContext& ctx) { serve(ctx, assets.index()); });
  r.add("GET", "/assets/{file}", [&assets](RequestContext& ctx) {
    const auto& name = ctx.params.at("file");
    const DashboardAsset* a = name == "index.html" ? nullptr : assets.find(name);
    if (!a) throw Error(ErrorCode::kNotFound, "asset-not-found", "no dashboard asset named '" + name + "'");
    serve(ctx, *a);
  });
}

}  // namespace aifgen::api
