#pragma once
#include <chrono>
#include <string>

namespace ecuup {

// "2026-11-25T10:04:05Z"
std::string to_iso8601(std::chrono::system_clock::time_point t);
std::string now_iso8601();

}  // namespace ecuup
