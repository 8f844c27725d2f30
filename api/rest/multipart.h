// Streaming multipart/form-data parser (RFC 7578 over RFC 2046 framing).
//
// Bytes are fed as they arrive from the socket; part bodies are handed to callbacks without
// being buffered whole, so a 300 MB file field costs one chunk of memory. Written by hand: Debian
// has no maintained C++ multipart library that streams (cpprest itself has no parser).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace aifgen::api {

struct PartHeaders {
  std::string name;          // from Content-Disposition
  std::string filename;      // empty when absent
  std::string content_type;  // empty when absent
};

// Extracts the boundary parameter from a Content-Type header value. Throws
// Error(kInvalidArgument, "multipart-malformed") when missing or invalid.
std::string multipart_boundary(const std::string& content_type);

class MultipartParser {
 public:
  explicit MultipartParser(const std::string& boundary);

  std::function<void(const PartHeaders&)> on_part_begin;
  std::function<void(const char*, std::size_t)> on_part_data;
  std::function<void()> on_part_end;

  // Throws Error(kInvalidArgument, "multipart-malformed") on framing errors; callback errors
  // propagate.
  void feed(const char* data, std::size_t size);
  // Throws unless the closing delimiter was seen.
  void finish();

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kBody, kDone };
  void parse_headers(const std::string& block);
  bool step();

  std::string delimiter_;  // "\r\n--" + boundary
  std::string buf_;
  std::size_t parts_ = 0;
  State state_ = State::kPreamble;
};

}  // namespace aifgen::api
