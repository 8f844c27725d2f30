#include "service/link_signer.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/error.h"
#include "core/base/private_file.h"

namespace aifgen {
namespace {

std::string to_hex(const unsigned char* p, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

std::string from_hex(const std::string& h) {
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (h.size() % 2) return "";
  std::string out;
  for (std::size_t i = 0; i < h.size(); i += 2) {
    int a = val(h[i]), b = val(h[i + 1]);
    if (a < 0 || b < 0) return "";
    out += static_cast<char>(a * 16 + b);
  }
  return out;
}

}  // namespace

LinkSigner::LinkSigner(std::string secret, std::int64_t ttl_s) : secret_(std::move(secret)), ttl_s_(ttl_s) {
  if (secret_.size() < 32) throw Error(ErrorCode::kInvalidArgument, "invalid-link-secret", "the link secret must be at least 32 bytes (64 hex digits)");
}

std::string LinkSigner::load_or_create_secret(const std::string& data_dir, const std::string& configured_hex) {
  if (!configured_hex.empty()) {
    auto raw = from_hex(configured_hex);
    if (raw.size() < 32) throw Error(ErrorCode::kInvalidArgument, "invalid-link-secret", "--link-secret must be at least 64 hex digits");
    return raw;
  }
  const auto path = std::filesystem::path(data_dir) / "link-secret";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path);
    std::string hex;
    in >> hex;
    // Empty: a crash between create and write on a version that wrote in place; make a new one.
    if (!hex.empty()) {
      auto raw = from_hex(hex);
      if (raw.size() < 32) throw Error(ErrorCode::kIo, "invalid-link-secret", path.string() + " does not hold a valid secret");
      return raw;
    }
  }
  unsigned char key[32];
  if (RAND_bytes(key, sizeof key) != 1) throw Error(ErrorCode::kIo, "random-failed", "no randomness for the link secret");
  write_private_file(path.string(), to_hex(key, sizeof key) + "\n");
  return std::string(reinterpret_cast<const char*>(key), sizeof key);
}

std::string LinkSigner::mac(const std::string& method, const std::string& path, std::int64_t expires) const {
  const std::string msg = method + "\n" + path + "\n" + std::to_string(expires);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
       out, &len);
  return to_hex(out, len);
}

LinkSigner::Link LinkSigner::sign(const std::string& method, const std::string& path, std::int64_t now_s) const {
  Link l;
  l.expires = now_s + ttl_s_;
  l.url = path + "?expires=" + std::to_string(l.expires) + "&sig=" + mac(method, path, l.expires);
  return l;
}

void LinkSigner::verify(const std::string& method, const std::string& path, const std::string& expires, const std::string& sig,
                        std::int64_t now_s) const {
  std::int64_t e = 0;
  std::size_t used = 0;
  try {
    e = std::stoll(expires, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (expires.empty() || used != expires.size() || sig.size() != 64)
    throw Error(ErrorCode::kForbidden, "link-invalid", "the link's signature or expiry is missing or malformed; ask GET /v1/variants/{id}/download for a new one");
  const std::string want = mac(method, path, e);
  if (CRYPTO_memcmp(want.data(), sig.data(), want.size()) != 0)
    throw Error(ErrorCode::kForbidden, "link-invalid", "the link's signature does not match; ask GET /v1/variants/{id}/download for a new one");
  if (now_s > e) throw Error(ErrorCode::kForbidden, "link-expired", "the link expired; ask GET /v1/variants/{id}/download for a new one");
}

}  // namespace aifgen
