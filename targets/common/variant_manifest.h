// variant.json: the machine-readable description every bundle carries, also stored as the
// variant's report.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "targets/common/bundle_files.h"
#include "targets/target.h"

namespace aifgen {

// Pretty-printed JSON. `extra` (a JSON object text, may be empty) is merged in at top level
// for target-specific fields.
std::string variant_manifest_json(const VariantBuild& build, const TargetDescriptor& target,
                                  const std::string& extra_json = "");

// The last step of every packager: adds variant.json (the manifest with `extra`, the build's
// report and the list of every file in the bundle) and writes the bundle with SHA256SUMS.
// Returns the manifest.
std::string finish_bundle(BundleFiles& files, const VariantBuild& build, const TargetDescriptor& target,
                          nlohmann::json extra, const std::string& out_path);

// The bold line a bundle README opens with when INT8 was calibrated on synthetic inputs;
// empty otherwise.
std::string synthetic_calibration_warning(const VariantBuild& build);

}  // namespace aifgen
