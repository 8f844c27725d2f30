#include "api/listener_config.h"

#include <boost/asio/ssl.hpp>

#include <cstdio>

#include "core/base/error.h"

namespace aifgen::api {

web::http::experimental::listener::http_listener_config listener_config(const std::string& cert, const std::string& key,
                                                                          std::chrono::seconds timeout, bool& tls) {
  web::http::experimental::listener::http_listener_config cfg;
  cfg.set_timeout(timeout);
  if (cert.empty() != key.empty())
    throw Error(ErrorCode::kInvalidArgument, "invalid-config", "--tls-cert and --tls-key go together");
  tls = !cert.empty();
  if (!tls) return cfg;
  for (const auto& f : {cert, key})
    if (FILE* fp = std::fopen(f.c_str(), "r")) std::fclose(fp);
    else throw Error(ErrorCode::kInvalidArgument, "invalid-config", "cannot read TLS file " + f);
  // HTTPS only: the one listener speaks TLS, so a plain-HTTP client fails its handshake instead
  // of being served in clear.
  cfg.set_ssl_context_callback([cert, key](boost::asio::ssl::context& ctx) {
    ctx.set_options(boost::asio::ssl::context::default_workarounds | boost::asio::ssl::context::no_sslv2 |
                    boost::asio::ssl::context::no_sslv3 | boost::asio::ssl::context::no_tlsv1 |
                    boost::asio::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(cert);
    ctx.use_private_key_file(key, boost::asio::ssl::context::pem);
  });
  return cfg;
}

}  // namespace aifgen::api
