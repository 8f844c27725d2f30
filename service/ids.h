// Random identifiers for jobs and variants: a type prefix and 96 bits from OpenSSL's CSPRNG, so
// ids are unguessable and never collide in practice.
#pragma once

#include <string>

namespace aifgen {

std::string new_id(const std::string& prefix);

}  // namespace aifgen
