#include "util/hash.hpp"

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace ecuup {

namespace {

constexpr std::array<std::uint32_t, 64> k_sha256_round = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

std::uint32_t load_be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// Shared Merkle-Damgard buffering for both hashes (64-byte blocks, big-endian bit length).
template <class Hasher>
void md_update(Hasher&& h, std::array<std::uint8_t, 64>& buf, std::size_t& buf_len, std::uint64_t& total,
               const std::uint8_t* data, std::size_t len) {
  total += len;
  if (buf_len) {
    std::size_t take = std::min(len, 64 - buf_len);
    std::memcpy(buf.data() + buf_len, data, take);
    buf_len += take;
    data += take;
    len -= take;
    if (buf_len < 64) return;
    h(buf.data());
    buf_len = 0;
  }
  while (len >= 64) {
    h(data);
    data += 64;
    len -= 64;
  }
  std::memcpy(buf.data(), data, len);
  buf_len = len;
}

template <class Hasher>
void md_pad(Hasher&& h, std::array<std::uint8_t, 64>& buf, std::size_t buf_len, std::uint64_t total) {
  std::uint64_t bits = total * 8;
  buf[buf_len++] = 0x80;
  if (buf_len > 56) {
    std::memset(buf.data() + buf_len, 0, 64 - buf_len);
    h(buf.data());
    buf_len = 0;
  }
  std::memset(buf.data() + buf_len, 0, 56 - buf_len);
  for (int i = 0; i < 8; ++i) buf[56 + i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
  h(buf.data());
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

Sha256::Sha256()
    : m_h{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void Sha256::block(const std::uint8_t* p) {
  std::uint32_t w[64];
  for (int i = 0; i < 16; ++i) w[i] = load_be32(p + 4 * i);
  for (int i = 16; i < 64; ++i) {
    std::uint32_t s0 = std::rotr(w[i - 15], 7) ^ std::rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    std::uint32_t s1 = std::rotr(w[i - 2], 17) ^ std::rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  auto [a, b, c, d, e, f, g, h] = m_h;
  for (int i = 0; i < 64; ++i) {
    std::uint32_t s1 = std::rotr(e, 6) ^ std::rotr(e, 11) ^ std::rotr(e, 25);
    std::uint32_t ch = (e & f) ^ (~e & g);
    std::uint32_t t1 = h + s1 + ch + k_sha256_round[static_cast<std::size_t>(i)] + w[i];
    std::uint32_t s0 = std::rotr(a, 2) ^ std::rotr(a, 13) ^ std::rotr(a, 22);
    std::uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
    std::uint32_t t2 = s0 + maj;
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  m_h[0] += a; m_h[1] += b; m_h[2] += c; m_h[3] += d;
  m_h[4] += e; m_h[5] += f; m_h[6] += g; m_h[7] += h;
}

void Sha256::update(ByteView data) {
  md_update([this](const std::uint8_t* p) { block(p); }, m_buf, m_buf_len, m_total, data.data(), data.size());
}
void Sha256::update(std::string_view data) {
  update(ByteView(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

std::array<std::uint8_t, 32> Sha256::finish() {
  md_pad([this](const std::uint8_t* p) { block(p); }, m_buf, m_buf_len, m_total);
  std::array<std::uint8_t, 32> out{};
  for (int i = 0; i < 8; ++i) store_be32(out.data() + 4 * i, m_h[static_cast<std::size_t>(i)]);
  return out;
}

std::string Sha256::hex_digest() {
  auto d = finish();
  return to_hex(d);
}

Sha1::Sha1() : m_h{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0} {}

void Sha1::block(const std::uint8_t* p) {
  std::uint32_t w[80];
  for (int i = 0; i < 16; ++i) w[i] = load_be32(p + 4 * i);
  for (int i = 16; i < 80; ++i) w[i] = std::rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  auto [a, b, c, d, e] = m_h;
  for (int i = 0; i < 80; ++i) {
    std::uint32_t f, k;
    if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
    else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
    else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
    else { f = b ^ c ^ d; k = 0xCA62C1D6; }
    std::uint32_t t = std::rotl(a, 5) + f + e + k + w[i];
    e = d; d = c; c = std::rotl(b, 30); b = a; a = t;
  }
  m_h[0] += a; m_h[1] += b; m_h[2] += c; m_h[3] += d; m_h[4] += e;
}

void Sha1::update(ByteView data) {
  md_update([this](const std::uint8_t* p) { block(p); }, m_buf, m_buf_len, m_total, data.data(), data.size());
}
void Sha1::update(std::string_view data) {
  update(ByteView(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

std::array<std::uint8_t, 20> Sha1::finish() {
  md_pad([this](const std::uint8_t* p) { block(p); }, m_buf, m_buf_len, m_total);
  std::array<std::uint8_t, 20> out{};
  for (int i = 0; i < 5; ++i) store_be32(out.data() + 4 * i, m_h[static_cast<std::size_t>(i)]);
  return out;
}

std::string Sha1::hex_digest() {
  auto d = finish();
  return to_hex(d);
}

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
