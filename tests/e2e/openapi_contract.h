// Reads openapi.yaml and answers "is this status declared for this method on this path?", so
// every response the end-to-end tests see is checked against the contract.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace aifgen::e2e {

class OpenApiContract {
 public:
  static const OpenApiContract& instance();  // loads AIFGEN_OPENAPI once
  // The path template matching `path` (query stripped), or "" when none.
  std::string template_for(const std::string& path) const;
  bool declares(const std::string& method, const std::string& path, int status) const;

 private:
  explicit OpenApiContract(const std::string& file);
  std::map<std::string, std::map<std::string, std::set<int>>> statuses_;  // template -> method -> statuses
};

}  // namespace aifgen::e2e
