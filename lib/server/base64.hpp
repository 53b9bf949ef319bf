#pragma once
// Base64 (RFC 4648, with padding) through libcrypto, for binary documents inside JSON bodies of
// the management API (a release statement's CMS signature).
#include <optional>
#include <string>
#include <string_view>

namespace ecuup::server {

std::string base64_encode(std::string_view bytes);
// nullopt for text that is not base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace ecuup::server
