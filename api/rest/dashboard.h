// The web dashboard's static files as the service serves them at GET / and GET /assets/{file}:
// compiled into the binary (embedded_files.h), gzip-compressed once at start, each script and
// stylesheet also under a content-hashed name (app.3f2a9c1be0d4.js) that index.html refers to,
// so browsers may cache those for a year while index.html is revalidated on every load. The page
// talks only to the documented /v1 routes; it holds no state the API does not.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "api/rest/router.h"

namespace aifgen::api {

struct DashboardAsset {
  std::string name;          // the name it is served under
  std::string content_type;
  std::string etag;          // quoted sha-256 prefix of the uncompressed bytes
  std::string cache_control;
  std::string body, gzip;    // identity and gzip encodings
};

class DashboardAssets {
 public:
  DashboardAssets();  // from dashboard_files(); throws if index.html is missing
  // By served name: "index.html", a hashed name, or a plain name (then revalidated each time).
  const DashboardAsset* find(std::string_view name) const;
  const DashboardAsset& index() const { return assets_.at("index.html"); }
  // Every asset under its served names, for tests and the load benchmark.
  const std::map<std::string, DashboardAsset, std::less<>>& all() const { return assets_; }

 private:
  std::map<std::string, DashboardAsset, std::less<>> assets_;
};

void add_dashboard_routes(Router& r, const DashboardAssets& assets);

}  // namespace aifgen::api
