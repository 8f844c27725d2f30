// The cpprest listener settings the REST service and infer-server share: the request timeout and,
// with a certificate and key, HTTPS only (TLS 1.2+, OpenSSL through Boost.Asio).
#pragma once

#include <cpprest/http_listener.h>

#include <chrono>
#include <string>

namespace aifgen::api {

// Throws Error(kInvalidArgument, "invalid-config") when only one of cert/key is given or a file
// cannot be read. `tls` tells the caller which scheme to listen on.
web::http::experimental::listener::http_listener_config listener_config(const std::string& cert, const std::string& key,
                                                                          std::chrono::seconds timeout, bool& tls);

}  // namespace aifgen::api
