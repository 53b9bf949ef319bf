#pragma once
// The diagnostic traffic log behind -vv and -vvv: UDS requests and responses (level 2, with
// service and NRC names) and ISO-TP/DoIP frames (level 3). Process-wide, thread-safe; the CLI
// installs the sink. Library code asks diag_log_on(level) before it formats anything, so a run
// without -vv pays one atomic load per message.
#include <functional>
#include <string>

#include "util/bytes.hpp"

namespace ecuup {

inline constexpr int k_diag_uds = 2;     // -vv
inline constexpr int k_diag_frames = 3;  // -vvv

// Sends lines of level <= `level` to `sink` (level 0 or a null sink: off).
void set_diag_log(int level, std::function<void(const std::string&)> sink);
bool diag_log_on(int level);
void diag_log(int level, const std::string& line);

// Bytes as hex for a log line: at most `limit` bytes, then "... (N bytes)".
std::string diag_hex(ByteView data, std::size_t limit = 24);

}  // namespace ecuup
