#pragma once
// SHA-256 and SHA-1, streaming, through OpenSSL's libcrypto, which picks the CPU's SHA extensions
// by itself. SHA-1 only exists because hawkBit may omit sha256.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "util/bytes.hpp"
#include "util/result.hpp"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace ecuup {

namespace detail {
// One libcrypto digest context; movable, not copyable.
class EvpDigest {
 public:
  enum class Kind { sha256, sha1 };
  explicit EvpDigest(Kind kind);
  ~EvpDigest();
  EvpDigest(EvpDigest&& other) noexcept;
  EvpDigest& operator=(EvpDigest&& other) noexcept;
  EvpDigest(const EvpDigest&) = delete;
  EvpDigest& operator=(const EvpDigest&) = delete;
  void update(const void* data, std::size_t size);
  void finish(std::uint8_t* out);  // out has room for the digest's size

 private:
  evp_md_ctx_st* m_ctx;
};
}  // namespace detail

class Sha256 {
 public:
  Sha256() : m_digest(detail::EvpDigest::Kind::sha256) {}
  void update(ByteView data) { m_digest.update(data.data(), data.size()); }
  void update(std::string_view data) { m_digest.update(data.data(), data.size()); }
  std::array<std::uint8_t, 32> finish();
  std::string hex_digest();  // finish() as lower-case hex
  // The library that hashes ("OpenSSL 3.0.19 ..."), for `ecuup --version`.
  static const char* engine_name();

 private:
  detail::EvpDigest m_digest;
};

class Sha1 {
 public:
  Sha1() : m_digest(detail::EvpDigest::Kind::sha1) {}
  void update(ByteView data) { m_digest.update(data.data(), data.size()); }
  void update(std::string_view data) { m_digest.update(data.data(), data.size()); }
  std::array<std::uint8_t, 20> finish();
  std::string hex_digest();

 private:
  detail::EvpDigest m_digest;
};

std::string sha256_hex(ByteView data);
std::string sha256_hex(std::string_view data);
// Hash a whole file with constant memory.
Result<std::string> sha256_file(const std::filesystem::path& path);
Result<std::string> sha1_file(const std::filesystem::path& path);

}  // namespace ecuup
