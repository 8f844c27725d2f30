#include "tests/e2e/http.h"

#include <cpprest/http_client.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/e2e/openapi_contract.h"

namespace aifgen::e2e {

std::string Response::problem_type() const {
  if (header("content-type").rfind("application/problem+json", 0) != 0) return "";
  auto j = json();
  std::string type = j.value("type", "");
  const std::string base = "https://aifgen.dev/problems/";
  return type.rfind(base, 0) == 0 ? type.substr(base.size()) : type;
}

Response Http::request(const std::string& method, const std::string& path, const std::string& body,
                       const std::string& content_type, const std::map<std::string, std::string>& headers) const {
  web::http::client::http_client_config cfg;
  cfg.set_timeout(std::chrono::seconds(120));
  cfg.set_validate_certificates(false);  // tests use a self-signed certificate
  web::http::client::http_client client(base_, cfg);
  web::http::http_request req(method);
  req.set_request_uri(path);
  if (!body.empty() || !content_type.empty()) {
    req.set_body(std::vector<unsigned char>(body.begin(), body.end()));
    if (!content_type.empty()) req.headers().set_content_type(content_type);
  }
  for (const auto& [k, v] : headers) req.headers().add(k, v);
  auto resp = client.request(req).get();
  Response out;
  out.status = resp.status_code();
  for (const auto& [k, v] : resp.headers()) {
    std::string lower = k;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[lower] = v;
  }
  auto bytes = resp.extract_vector().get();
  out.body.assign(bytes.begin(), bytes.end());
  EXPECT_TRUE(OpenApiContract::instance().declares(method, path, out.status))
      << method << " " << path << " answered " << out.status << ", which openapi.yaml does not declare";
  if (out.status >= 400) {
    EXPECT_EQ(out.header("content-type"), "application/problem+json") << method << " " << path;
  }
  return out;
}

Response Http::fetch_bundle(const std::string& download_path, const std::map<std::string, std::string>& headers) const {
  auto link = get(download_path);
  if (link.status != 200) return link;
  return get(link.json()["url"].get<std::string>(), headers);
}

Response Http::upload(const std::string& bytes, const std::string& name) const {
  return request("POST", "/v1/models" + (name.empty() ? "" : "?name=" + web::uri::encode_data_string(name)), bytes,
                 "application/octet-stream");
}

Response Http::upload_multipart(const std::string& bytes, const std::string& name) const {
  const std::string b = "aifgen-test-boundary-7f3a";
  std::string body = "--" + b + "\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n" + name + "\r\n--" + b +
                     "\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m.onnx\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n" +
                     bytes + "\r\n--" + b + "--\r\n";
  return request("POST", "/v1/models", body, "multipart/form-data; boundary=" + b);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace aifgen::e2e
