#include "server/token_hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <optional>

#include "util/bytes.hpp"

namespace ecuup::server {

namespace {

constexpr std::size_t k_token_bytes = 16;
constexpr std::size_t k_salt_bytes = 16;
constexpr std::size_t k_digest_bytes = 32;  // SHA-256
constexpr std::string_view k_scheme = "sha256";
constexpr char k_separator = '$';

Result<Bytes> random_bytes(std::size_t n, const char* what) {
  Bytes bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return make_error(Errc::internal, std::string("no random bytes for ") + what);
  }
  return bytes;
}

// SHA-256(salt || token) through libcrypto.
std::array<std::uint8_t, k_digest_bytes> digest(ByteView salt, std::string_view token) {
  std::array<std::uint8_t, k_digest_bytes> out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int len = 0;
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, salt.data(), salt.size()) == 1 &&
            EVP_DigestUpdate(ctx, token.data(), token.size()) == 1 && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1;
  EVP_MD_CTX_free(ctx);
  // A failing SHA-256 is a broken libcrypto; an all-zero digest then matches no hash_token() output.
  if (!ok || len != out.size()) out.fill(0);
  return out;
}

struct Parsed {
  Bytes salt;
  Bytes digest;
};

std::optional<Parsed> parse(std::string_view stored) {
  auto first = stored.find(k_separator);
  auto second = first == std::string_view::npos ? first : stored.find(k_separator, first + 1);
  if (second == std::string_view::npos || stored.substr(0, first) != k_scheme) return std::nullopt;
  auto salt = from_hex(stored.substr(first + 1, second - first - 1));
  auto hash = from_hex(stored.substr(second + 1));
  if (!salt || !hash || salt->size() != k_salt_bytes || hash->size() != k_digest_bytes) return std::nullopt;
  return Parsed{std::move(*salt), std::move(*hash)};
}

}  // namespace

Result<std::string> random_token() {
  ECUUP_ASSIGN(Bytes bytes, random_bytes(k_token_bytes, "a vehicle token"));
  return to_hex(bytes);
}

Result<std::string> hash_token(std::string_view token) {
  ECUUP_ASSIGN(Bytes salt, random_bytes(k_salt_bytes, "a token salt"));
  auto d = digest(salt, token);
  return std::string(k_scheme) + k_separator + to_hex(salt) + k_separator + to_hex(ByteView(d.data(), d.size()));
}

bool token_matches(std::string_view stored, std::string_view token) {
  auto parsed = parse(stored);
  if (!parsed || token.empty()) return false;
  auto d = digest(parsed->salt, token);
  return CRYPTO_memcmp(d.data(), parsed->digest.data(), d.size()) == 0;
}

bool is_token_hash(std::string_view text) { return parse(text).has_value(); }

}  // namespace ecuup::server
