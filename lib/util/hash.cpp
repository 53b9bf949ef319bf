#include "util/hash.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace ecuup {

namespace detail {

EvpDigest::EvpDigest(Kind kind) : m_ctx(EVP_MD_CTX_new()) {
  // Only allocation can fail here; without a context nothing can be hashed at all.
  if (!m_ctx || EVP_DigestInit_ex(m_ctx, kind == Kind::sha256 ? EVP_sha256() : EVP_sha1(), nullptr) != 1) std::abort();
}

EvpDigest::~EvpDigest() { EVP_MD_CTX_free(m_ctx); }

EvpDigest::EvpDigest(EvpDigest&& other) noexcept : m_ctx(std::exchange(other.m_ctx, nullptr)) {}

EvpDigest& EvpDigest::operator=(EvpDigest&& other) noexcept {
  std::swap(m_ctx, other.m_ctx);
  return *this;
}

void EvpDigest::update(const void* data, std::size_t size) {
  if (size) EVP_DigestUpdate(m_ctx, data, size);
}

void EvpDigest::finish(std::uint8_t* out) {
  unsigned int n = 0;
  EVP_DigestFinal_ex(m_ctx, out, &n);
}

}  // namespace detail

namespace {

template <std::size_t N>
std::string hex_of(const std::array<std::uint8_t, N>& digest) {
  return to_hex(ByteView(digest.data(), digest.size()));
}

template <class H>
Result<std::string> hash_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, "cannot open " + path.string() + ": " + std::strerror(errno));
  H h;
  std::vector<std::uint8_t> buf(1 << 16);
  while (in) {
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
    h.update(ByteView(buf.data(), static_cast<std::size_t>(in.gcount())));
  }
  if (in.bad()) return make_error(Errc::io, "cannot read " + path.string());
  return h.hex_digest();
}

}  // namespace

std::array<std::uint8_t, 32> Sha256::finish() {
  std::array<std::uint8_t, 32> out{};
  m_digest.finish(out.data());
  return out;
}

std::string Sha256::hex_digest() { return hex_of(finish()); }

const char* Sha256::engine_name() { return OpenSSL_version(OPENSSL_VERSION); }

std::array<std::uint8_t, 20> Sha1::finish() {
  std::array<std::uint8_t, 20> out{};
  m_digest.finish(out.data());
  return out;
}

std::string Sha1::hex_digest() { return hex_of(finish()); }

std::string sha256_hex(ByteView data) {
  Sha256 h;
  h.update(data);
  return h.hex_digest();
}
std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex_digest();
}
Result<std::string> sha256_file(const std::filesystem::path& path) { return hash_file<Sha256>(path); }
Result<std::string> sha1_file(const std::filesystem::path& path) { return hash_file<Sha1>(path); }

}  // namespace ecuup
