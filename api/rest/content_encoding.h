// Content codings for responses compressed once and served many times (the dashboard's files):
// gzip with zlib, and reading a request's Accept-Encoding.
#pragma once

#include <string>
#include <string_view>

namespace aifgen::api {

// gzip (RFC 1952) of `bytes` at the best compression, with zlib.
std::string gzip_compress(std::string_view bytes);

// Whether an Accept-Encoding header value admits gzip: RFC 9110 12.5.3, an explicit `gzip`
// entry decides (q=0 refuses it), else `*` does; an unreadable q-value counts as a refusal.
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace aifgen::api
