// Segment-wise template matching.
#include "api/rest/router.h"

namespace aifgen::api {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    auto j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

void Router::add(std::string method, std::string path_template, Handler h) {
  auto segments = split_path(path_template);
  routes_.push_back({std::move(method), std::move(path_template), std::move(h), std::move(segments)});
}

RouteMatch Router::match(const std::string& method, const std::string& path) const {
  RouteMatch result;
  auto parts = split_path(path);
  for (const auto& r : routes_) {
    const auto& tparts = r.segments;
    if (tparts.size() != parts.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (std::size_t i = 0; i < parts.size() && ok; ++i) {
      const auto& t = tparts[i];
      if (t.size() > 2 && t.front() == '{' && t.back() == '}') params[t.substr(1, t.size() - 2)] = parts[i];
      else ok = t == parts[i];
    }
    if (!ok) continue;
    result.path_known = true;
    if (r.method == method) {
      result.route = &r;
      result.params = std::move(params);
      return result;
    }
  }
  return result;
}

}  // namespace aifgen::api
