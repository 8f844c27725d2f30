#include "tests/e2e/openapi_contract.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "api/rest/router.h"

namespace aifgen::e2e {

const OpenApiContract& OpenApiContract::instance() {
  static const OpenApiContract contract(AIFGEN_OPENAPI);
  return contract;
}

OpenApiContract::OpenApiContract(const std::string& file) {
  YAML::Node root = YAML::LoadFile(file);
  for (const auto& path : root["paths"]) {
    auto tmpl = path.first.as<std::string>();
    for (const auto& op : path.second) {
      auto method = op.first.as<std::string>();
      if (method == "parameters") continue;
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      for (const auto& resp : op.second["responses"]) statuses_[tmpl][method].insert(std::stoi(resp.first.as<std::string>()));
    }
  }
}

std::string OpenApiContract::template_for(const std::string& raw_path) const {
  auto path = raw_path.substr(0, raw_path.find('?'));
  auto parts = api::split_path(path);
  for (const auto& [tmpl, _] : statuses_) {
    auto t = api::split_path(tmpl);
    if (t.size() != parts.size()) continue;
    bool ok = true;
    for (std::size_t i = 0; i < t.size() && ok; ++i) ok = (t[i].front() == '{') || t[i] == parts[i];
    if (ok) return tmpl;
  }
  return "";
}

bool OpenApiContract::declares(const std::string& method, const std::string& path, int status) const {
  auto tmpl = template_for(path);
  if (tmpl.empty()) return false;
  auto it = statuses_.at(tmpl).find(method);
  return it != statuses_.at(tmpl).end() && it->second.count(status) > 0;
}

}  // namespace aifgen::e2e
