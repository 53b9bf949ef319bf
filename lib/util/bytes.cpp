#include "util/bytes.hpp"

namespace ecuup {

namespace {
int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Bytes> from_hex(std::string_view hex) {
  Bytes out;
  int high = -1;
  for (char c : hex) {
    if (c == ' ') continue;
    int n = nibble(c);
    if (n < 0) return make_error(Errc::config, std::string("not a hex digit: '") + c + "'");
    if (high < 0) {
      high = n;
    } else {
      out.push_back(static_cast<std::uint8_t>(high << 4 | n));
      high = -1;
    }
  }
  if (high >= 0) return make_error(Errc::config, "odd number of hex digits");
  return out;
}

std::string to_hex(ByteView bytes, std::string_view separator) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * (2 + separator.size()));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i && !separator.empty()) out += separator;
    out += k_digits[bytes[i] >> 4];
    out += k_digits[bytes[i] & 0xf];
  }
  return out;
}

}  // namespace ecuup
