#pragma once
// Percent-encoding of one URL component (RFC 3986: unreserved characters stay, the rest is %XX),
// for the hrefs the server writes and the requests `admin --url` sends.
#include <cctype>
#include <string>

namespace ecuup::server {

inline std::string percent_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

}  // namespace ecuup::server
