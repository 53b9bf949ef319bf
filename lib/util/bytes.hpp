#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ecuup {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// "0a1B" -> {0x0a,0x1b}; spaces are ignored. Errc::config on odd length or a non-hex digit.
Result<Bytes> from_hex(std::string_view hex);
// {0x0a,0x1b} -> "0a1b" (lower case), or with a separator: "0a 1b".
std::string to_hex(ByteView bytes, std::string_view separator = "");

}  // namespace ecuup
