// Unguessable identifiers: hex of bytes from OpenSSL's CSPRNG, and the ids of jobs, variants and
// calibration sets built from it.
#pragma once

#include <cstddef>
#include <string>

namespace aifgen {

// 2 * bytes lower-case hex characters. Throws Error(kInternal) if the CSPRNG fails.
std::string random_hex(std::size_t bytes);

// `prefix` + "_" + 96 random bits in hex (e.g. job_3f9c...): unguessable, never colliding in
// practice.
std::string new_id(const std::string& prefix);

}  // namespace aifgen
