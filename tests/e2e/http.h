// A small HTTP client for end-to-end tests (cpprest). Every response is checked against
// openapi.yaml: its status must be declared for the route and method.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace aifgen::e2e {

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  nlohmann::json json() const { return nlohmann::json::parse(body); }
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
  // The problem slug of an error response ("" when not problem+json).
  std::string problem_type() const;
};

class Http {
 public:
  explicit Http(std::string base_url) : base_(std::move(base_url)) {}
  Response request(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& content_type = "", const std::map<std::string, std::string>& headers = {}) const;
  Response get(const std::string& path, const std::map<std::string, std::string>& headers = {}) const {
    return request("GET", path, "", "", headers);
  }
  Response post_json(const std::string& path, const nlohmann::json& body,
                     const std::map<std::string, std::string>& headers = {}) const {
    return request("POST", path, body.dump(), "application/json", headers);
  }
  Response upload(const std::string& bytes, const std::string& name = "") const;
  // GET download_path (/v1/variants/{id}/download) for the signed link, then the link. An
  // error answer of the first request is returned as it is.
  Response fetch_bundle(const std::string& download_path, const std::map<std::string, std::string>& headers = {}) const;
  Response upload_multipart(const std::string& bytes, const std::string& name) const;

 private:
  std::string base_;
};

std::string read_file(const std::string& path);

}  // namespace aifgen::e2e
