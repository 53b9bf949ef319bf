#pragma once
// Runs a bench tool through /bin/sh and collects its exit status and output, with a timeout.
#include <chrono>
#include <string>

#include "util/result.hpp"

namespace ecuup {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// Errc::timeout (the process group is killed) when it runs longer than `timeout`;
// Errc::interrupted when the user interrupts. A non-zero exit is NOT an error here.
Result<ProcessResult> run_shell(const std::string& command, std::chrono::milliseconds timeout);

// Quotes one word for /bin/sh: 'it'\''s'.
std::string shell_quote(const std::string& word);

}  // namespace ecuup
