// The README.md placed in x86_64-cpu bundles.
#pragma once

#include <cstdint>
#include <string>

#include "targets/target.h"

namespace aifgen {

std::string x86_bundle_readme(const VariantBuild& build, std::int64_t opset);

}  // namespace aifgen
