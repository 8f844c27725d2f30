// `aifgen inspect MODEL.onnx [--json]`: the same record POST /v1/models answers with.
#pragma once

#include <string>

namespace aifgen {

// Returns the process exit code; prints errors to stderr.
int run_inspect(const std::string& path, bool as_json);

}  // namespace aifgen
