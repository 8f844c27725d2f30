// The one error type shared by core/, targets/, storage/ and service/.
//
// An Error carries a closed category (ErrorCode), a stable machine-readable `type` slug that
// clients may switch on (e.g. "model-checker-failed"), and a human message. api/ maps the
// category to an HTTP status and the slug to a problem+json `type` in exactly one place
// (api/rest/problem.cpp); the CLI prints the message and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace aifgen {

enum class ErrorCode {
  kInvalidArgument,  // malformed request or input (400)
  kForbidden,        // authenticated by something that does not allow this (403), e.g. an expired signed link
  kNotFound,         // no such model/job/variant (404)
  kConflict,         // valid request that clashes with current state (409)
  kTooLarge,         // over a configured size limit (413)
  kUnsupportedMedia, // wrong content type (415)
  kInvalidModel,     // bytes arrived but are not an acceptable ONNX model (422)
  kUnprocessable,    // well-formed request naming things that cannot be done (422)
  kUnavailable,      // temporarily cannot serve (503)
  kIo,               // storage failure (500)
  kInternal,         // a bug (500)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string type, const std::string& message,
        std::vector<std::string> allowed = {})
      : std::runtime_error(message), code_(code), type_(std::move(type)),
        allowed_(std::move(allowed)) {}

  ErrorCode code() const { return code_; }
  // Stable slug, lower-case words joined by '-'.
  const std::string& type() const { return type_; }
  // For "not one of these" errors: the values that would have been accepted.
  const std::vector<std::string>& allowed() const { return allowed_; }

 private:
  ErrorCode code_;
  std::string type_;
  std::vector<std::string> allowed_;
};

}  // namespace aifgen
