// variant.json: the machine-readable description every bundle carries, also stored as the
// variant's report.
#pragma once

#include <string>

#include "targets/target.h"

namespace aifgen {

// Pretty-printed JSON. `extra` (a JSON object text, may be empty) is merged in at top level
// for target-specific fields.
std::string variant_manifest_json(const VariantBuild& build, const TargetDescriptor& target,
                                  const std::string& extra_json = "");

}  // namespace aifgen
