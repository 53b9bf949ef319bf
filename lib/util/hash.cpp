#include "util/hash.hpp"

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif

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
// h(p, n) compresses n consecutive blocks.
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
    h(buf.data(), 1);
    buf_len = 0;
  }
  if (std::size_t whole = len / 64) {
    h(data, whole);
    data += whole * 64;
    len -= whole * 64;
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
    h(buf.data(), 1);
    buf_len = 0;
  }
  std::memset(buf.data() + buf_len, 0, 56 - buf_len);
  for (int i = 0; i < 8; ++i) buf[56 + i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
  h(buf.data(), 1);
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

void sha256_portable(std::uint32_t* state, const std::uint8_t* p, std::size_t blocks) {
  for (; blocks > 0; --blocks, p += 64) {
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i) w[i] = load_be32(p + 4 * i);
    for (int i = 16; i < 64; ++i) {
      std::uint32_t s0 = std::rotr(w[i - 15], 7) ^ std::rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      std::uint32_t s1 = std::rotr(w[i - 2], 17) ^ std::rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    std::uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; ++i) {
      std::uint32_t s1 = std::rotr(e, 6) ^ std::rotr(e, 11) ^ std::rotr(e, 25);
      std::uint32_t ch = (e & f) ^ (~e & g);
      std::uint32_t t1 = h + s1 + ch + k_sha256_round[static_cast<std::size_t>(i)] + w[i];
      std::uint32_t s0 = std::rotr(a, 2) ^ std::rotr(a, 13) ^ std::rotr(a, 22);
      std::uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      std::uint32_t t2 = s0 + maj;
      h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += h;
  }
}

#if defined(__x86_64__) || defined(__i386__)
#define ECUUP_SHA_NI 1
// The SHA extensions keep the state in two registers, {A,B,E,F} and {C,D,G,H} (A in the top
// lane); SHA256RNDS2 runs two rounds on the low two words of W+K and returns the new {A,B,E,F},
// which makes the old {A,B,E,F} the new {C,D,G,H}. SHA256MSG1/MSG2 compute the message schedule
// four words at a time: W[t..t+3] = MSG2(MSG1(W[t-16..], W[t-12..]) + W[t-7..t-4], W[t-4..t-1]).
__attribute__((target("sha,sse4.1,ssse3"))) void sha256_sha_ni(std::uint32_t* state, const std::uint8_t* p,
                                                                std::size_t blocks) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i dcba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state));      // lanes a,b,c,d
  __m128i hgfe = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state + 4));  // lanes e,f,g,h
  __m128i badc = _mm_shuffle_epi32(dcba, 0xB1);                                  // lanes b,a,d,c
  __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);                                  // lanes h,g,f,e
  __m128i abef = _mm_alignr_epi8(badc, efgh, 8);                                 // lanes f,e,b,a
  __m128i cdgh = _mm_blend_epi16(efgh, badc, 0xF0);                              // lanes h,g,d,c
  for (; blocks > 0; --blocks, p += 64) {
    const __m128i abef_in = abef, cdgh_in = cdgh;
    __m128i w[4];
    for (int i = 0; i < 4; ++i)
      w[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i)), byte_swap);
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) {
      __m128i& cur = w[r % 4];
      if (r >= 4) {
        __m128i t = _mm_sha256msg1_epu32(cur, w[(r + 1) % 4]);
        t = _mm_add_epi32(t, _mm_alignr_epi8(w[(r + 3) % 4], w[(r + 2) % 4], 4));
        cur = _mm_sha256msg2_epu32(t, w[(r + 3) % 4]);
      }
      __m128i wk = _mm_add_epi32(cur, _mm_loadu_si128(reinterpret_cast<const __m128i*>(&k_sha256_round[4 * static_cast<std::size_t>(r)])));
      // Rounds 4r, 4r+1: cdgh receives the new {A,B,E,F} and abef (the old one) is now {C,D,G,H};
      // rounds 4r+2, 4r+3 swap them back.
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);
  }
  __m128i feba = _mm_shuffle_epi32(abef, 0x1B);       // lanes a,b,e,f
  __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);       // lanes g,h,c,d
  dcba = _mm_blend_epi16(feba, dchg, 0xF0);           // lanes a,b,c,d
  hgfe = _mm_alignr_epi8(dchg, feba, 8);              // lanes e,f,g,h
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state), dcba);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state + 4), hgfe);
}

bool cpu_has_sha_ni() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  bool ssse3 = (c & (1u << 9)) != 0, sse41 = (c & (1u << 19)) != 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  bool sha = (b & (1u << 29)) != 0;
  return ssse3 && sse41 && sha;
}
#endif

using Sha256Blocks = void (*)(std::uint32_t*, const std::uint8_t*, std::size_t);

Sha256Blocks automatic_sha256() {
#ifdef ECUUP_SHA_NI
  static const bool has = cpu_has_sha_ni();
  if (has) return sha256_sha_ni;
#endif
  return sha256_portable;
}

}  // namespace

Sha256::Sha256(Sha256Engine engine)
    : m_blocks(engine == Sha256Engine::portable ? sha256_portable : automatic_sha256()),
      m_h{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

const char* Sha256::automatic_engine_name() {
  return automatic_sha256() == sha256_portable ? "portable" : "sha-ni";
}

void Sha256::update(ByteView data) {
  md_update([this](const std::uint8_t* p, std::size_t n) { m_blocks(m_h.data(), p, n); }, m_buf, m_buf_len, m_total,
            data.data(), data.size());
}
void Sha256::update(std::string_view data) {
  update(ByteView(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

std::array<std::uint8_t, 32> Sha256::finish() {
  md_pad([this](const std::uint8_t* p, std::size_t n) { m_blocks(m_h.data(), p, n); }, m_buf, m_buf_len, m_total);
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
  md_update([this](const std::uint8_t* p, std::size_t n) { for (; n > 0; --n, p += 64) block(p); }, m_buf, m_buf_len,
            m_total, data.data(), data.size());
}
void Sha1::update(std::string_view data) {
  update(ByteView(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

std::array<std::uint8_t, 20> Sha1::finish() {
  md_pad([this](const std::uint8_t* p, std::size_t) { block(p); }, m_buf, m_buf_len, m_total);
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
