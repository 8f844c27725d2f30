// Signed, expiring download links: HMAC-SHA256 over "METHOD\nPATH\nEXPIRES" with a server
// secret, so a bundle URL can be handed to a deployment tool without an API key.
#pragma once

#include <cstdint>
#include <string>

namespace aifgen {

class LinkSigner {
 public:
  // `secret` is the raw key (at least 32 bytes). Links live `ttl_s` seconds.
  LinkSigner(std::string secret, std::int64_t ttl_s);

  // The configured secret (hex), or the one kept in <data_dir>/link-secret, created once with
  // 32 random bytes and mode 0600. Throws Error(kIo).
  static std::string load_or_create_secret(const std::string& data_dir, const std::string& configured_hex);

  struct Link {
    std::string url;  // path + "?expires=...&sig=..."
    std::int64_t expires = 0;
  };
  Link sign(const std::string& method, const std::string& path, std::int64_t now_s) const;
  // Throws Error(kForbidden, "link-expired" | "link-invalid"). Constant-time comparison.
  void verify(const std::string& method, const std::string& path, const std::string& expires, const std::string& sig,
              std::int64_t now_s) const;
  std::int64_t ttl_s() const { return ttl_s_; }

 private:
  std::string mac(const std::string& method, const std::string& path, std::int64_t expires) const;

  std::string secret_;
  std::int64_t ttl_s_;
};

}  // namespace aifgen
