#pragma once
// Software version ordering: dot-separated parts compare numerically when both are numbers,
// otherwise as text; a pre-release ("1.2.0-rc1") sorts before its release; "+build" is ignored.
#include <string_view>

namespace ecuup {

// <0, 0, >0 like strcmp.
int compare_versions(std::string_view a, std::string_view b);

}  // namespace ecuup

#include "util/result.hpp"

namespace ecuup {

inline constexpr std::size_t k_version_max_length = 128;

// What may be recorded as a version: 1 to 128 printable ASCII characters, no leading or trailing
// blank. Whatever passes can be written to the manifest and read back. Errc::verify with the
// reason ("empty", "control character at 3", ...) otherwise.
Result<void> check_version_text(std::string_view version);

}  // namespace ecuup
