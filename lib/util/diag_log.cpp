#include "util/diag_log.hpp"

#include <atomic>
#include <mutex>

#include <fmt/format.h>

namespace ecuup {

namespace {

std::atomic<int> g_level{0};
std::mutex g_mutex;
std::function<void(const std::string&)>& sink() {
  static std::function<void(const std::string&)> s;
  return s;
}

}  // namespace

void set_diag_log(int level, std::function<void(const std::string&)> new_sink) {
  std::lock_guard<std::mutex> lock(g_mutex);
  sink() = std::move(new_sink);
  g_level = sink() ? level : 0;
}

bool diag_log_on(int level) { return level <= g_level.load(std::memory_order_relaxed); }

void diag_log(int level, const std::string& line) {
  if (!diag_log_on(level)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (sink()) sink()(line);
}

std::string diag_hex(ByteView data, std::size_t limit) {
  std::string out;
  const std::size_t shown = std::min(limit, data.size());
  out.reserve(shown * 3 + 24);
  for (std::size_t i = 0; i < shown; ++i) fmt::format_to(std::back_inserter(out), "{}{:02X}", i ? " " : "", data[i]);
  if (shown < data.size()) fmt::format_to(std::back_inserter(out), " ... ({} bytes)", data.size());
  return out;
}

}  // namespace ecuup
