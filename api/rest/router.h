// Route table: (method, path template with {param} segments) -> handler. The matched template is
// also the `route` label of metrics and logs, so ids never explode label cardinality.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api/rest/request_context.h"

namespace aifgen::api {

using Handler = std::function<void(RequestContext&)>;

struct Route {
  std::string method;
  std::string path_template;
  Handler handler;
  std::vector<std::string> segments;  // path_template split once at add(), not per request
};

struct RouteMatch {
  const Route* route = nullptr;           // null: no route
  bool path_known = false;                // some route has this path (for 405 vs 404)
  std::map<std::string, std::string> params;
};

class Router {
 public:
  void add(std::string method, std::string path_template, Handler h);
  RouteMatch match(const std::string& method, const std::string& path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

std::vector<std::string> split_path(const std::string& path);

}  // namespace aifgen::api
