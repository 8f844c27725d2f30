// Unguessable identifiers: hex of bytes from OpenSSL's CSPRNG.
#pragma once

#include <cstddef>
#include <string>

namespace aifgen {

// 2 * bytes lower-case hex characters. Throws Error(kInternal) if the CSPRNG fails.
std::string random_hex(std::size_t bytes);

}  // namespace aifgen
