#include "service/link_signer.h"

#include <optional>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/encoding.h"
#include "core/base/error.h"
#include "core/base/private_file.h"

namespace aifgen {

LinkSigner::LinkSigner(std::string secret, std::int64_t ttl_s) : secret_(std::move(secret)), ttl_s_(ttl_s) {
  if (secret_.size() < 32) throw Error(ErrorCode::kInvalidArgument, "invalid-link-secret", "the link secret must be at least 32 bytes (64 hex digits)");
}

std::string LinkSigner::load_or_create_secret(const std::string& data_dir, const std::string& configured_hex) {
  if (!configured_hex.empty()) {
    const auto raw = from_hex(configured_hex).value_or("");
    if (raw.size() < 32) throw Error(ErrorCode::kInvalidArgument, "invalid-link-secret", "--link-secret must be at least 64 hex digits");
    return raw;
  }
  const auto path = std::filesystem::path(data_dir) / "link-secret";
  // nullopt: no file; "": an empty file (a crash between create and write on a version that
  // wrote in place: replace it); otherwise the secret.
  auto read_existing = [&]() -> std::optional<std::string> {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::nullopt;
    std::ifstream in(path);
    std::string hex;
    in >> hex;
    if (hex.empty()) return std::string();
    const auto raw = from_hex(hex).value_or("");
    if (raw.size() < 32) throw Error(ErrorCode::kIo, "link-secret-corrupt", path.string() + " does not hold a valid secret");
    return raw;
  };
  const auto existing = read_existing();
  if (existing && !existing->empty()) return *existing;
  unsigned char key[32];
  if (RAND_bytes(key, sizeof key) != 1) throw Error(ErrorCode::kIo, "random-failed", "no randomness for the link secret");
  const std::string hex = to_hex(std::string_view(reinterpret_cast<const char*>(key), sizeof key)) + "\n";
  if (existing) {
    write_private_file(path.string(), hex);  // the empty file
  } else if (!create_private_file(path.string(), hex)) {
    // Another process sharing the data dir created it first: use theirs, so links made by any
    // process of the deployment verify on all of them.
    const auto theirs = read_existing();
    if (theirs && !theirs->empty()) return *theirs;
    throw Error(ErrorCode::kIo, "link-secret-corrupt", path.string() + " does not hold a valid secret");
  }
  return std::string(reinterpret_cast<const char*>(key), sizeof key);
}

std::string LinkSigner::mac(const std::string& method, const std::string& path, std::int64_t expires) const {
  const std::string msg = method + "\n" + path + "\n" + std::to_string(expires);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
       out, &len);
  return to_hex(std::string_view(reinterpret_cast<const char*>(out), len));
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
