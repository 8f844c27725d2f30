// Incremental SHA-256 over OpenSSL's EVP interface. Not thread-safe; one per stream.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace aifgen {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  // Returns the lower-case hex digest. The hasher must not be updated afterwards.
  std::string finish_hex();

  static std::string of(std::string_view bytes);
  // Hashes a whole file; throws Error(kIo) when it cannot be read.
  static std::string of_file(const std::string& path);

 private:
  evp_md_ctx_st* ctx_;
};

// Base64 of the bytes a hex digest stands for (as HTTP digest headers want it).
std::string hex_digest_to_base64(std::string_view hex);

// True when `s` looks like a sha256 hex digest (64 lower-case hex chars).
bool is_sha256_hex(std::string_view s);

}  // namespace aifgen
