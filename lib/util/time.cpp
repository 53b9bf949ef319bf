#include "util/time.hpp"

#include <ctime>

namespace ecuup {

std::string to_iso8601(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string now_iso8601() { return to_iso8601(std::chrono::system_clock::now()); }

}  // namespace ecuup
