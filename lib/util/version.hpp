#pragma once
// Software version ordering: dot-separated parts compare numerically when both are numbers,
// otherwise as text; a pre-release ("1.2.0-rc1") sorts before its release; "+build" is ignored.
#include <string_view>

namespace ecuup {

// <0, 0, >0 like strcmp.
int compare_versions(std::string_view a, std::string_view b);

}  // namespace ecuup
