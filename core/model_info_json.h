// JSON form of ModelInfo, shared by `aifgen inspect --json`, the stored model row and the API,
// so the three can never disagree.
#pragma once

#include <nlohmann/json.hpp>

#include "core/model_info.h"

namespace aifgen {

nlohmann::json model_info_to_json(const ModelInfo& info);

}  // namespace aifgen
