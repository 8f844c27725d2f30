// Hex and base64 over OpenSSL's own encoders, so every room spells bytes the same way.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aifgen {

// Lower-case hex, two characters per byte.
std::string to_hex(std::string_view bytes);
// The bytes of an even-length hex string (either case); nullopt for anything else.
std::optional<std::string> from_hex(std::string_view hex);

// Standard base64 with padding (RFC 4648 section 4).
std::string to_base64(std::string_view bytes);
// nullopt for input that is not padded standard base64.
std::optional<std::string> from_base64(std::string_view text);

}  // namespace aifgen
