#include "server/base64.hpp"

#include <openssl/evp.h>

namespace ecuup::server {

namespace {
constexpr std::size_t k_group_chars = 4;
constexpr std::size_t k_group_bytes = 3;
}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out((bytes.size() + k_group_bytes - 1) / k_group_bytes * k_group_chars + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % k_group_chars != 0) return std::nullopt;
  std::string out(text.size() / k_group_chars * k_group_bytes, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes; the '=' characters say how many to drop.
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

}  // namespace ecuup::server
