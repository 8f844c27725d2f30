#include "core/base/encoding.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cctype>
#include <memory>

namespace aifgen {

std::string to_hex(std::string_view bytes) {
  if (bytes.empty()) return {};
  std::string out(bytes.size() * 2 + 1, '\0');
  std::size_t written = 0;
  // Separator '\0' means none; OpenSSL writes upper-case digits and a terminating NUL.
  if (OPENSSL_buf2hexstr_ex(out.data(), out.size(), &written, reinterpret_cast<const unsigned char*>(bytes.data()),
                            bytes.size(), '\0') != 1)
    return {};
  out.resize(written > 0 ? written - 1 : 0);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  if (hex.empty()) return std::string();
  const std::string text(hex);  // OpenSSL wants a NUL-terminated string
  std::string out(hex.size() / 2, '\0');
  std::size_t n = 0;
  if (OPENSSL_hexstr2buf_ex(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n, text.c_str(), '\0') != 1)
    return std::nullopt;
  out.resize(n);
  return out;
}

std::string to_base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

std::optional<std::string> from_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::string();
  std::string out(text.size() / 4 * 3, '\0');
  // EVP_DecodeBlock skips leading/trailing whitespace and counts '=' padding as zero bytes.
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
  std::size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  out.resize(out.size() - padding);
  return out;
}

}  // namespace aifgen
