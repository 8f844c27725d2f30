// A short description of this machine for benchmark rows: CPU model, core count.
#pragma once

#include <string>

namespace aifgen {

std::string host_description();

}  // namespace aifgen
