#pragma once
// Failed authentication, counted per client address: after `max_failures` failures within one
// window (which starts at the first failure), the address is refused (HTTP 429 with Retry-After)
// until the window ends, without its token being looked at. A success does not reset the count,
// so a valid vehicle behind the same address cannot launder an attacker's guesses.
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace ecuup::server {

class AuthLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // max_failures 0: never refuse.
  AuthLimiter(int max_failures, std::chrono::seconds window, std::size_t max_addresses = k_default_max_addresses);

  // How long `address` must wait before it may try again; nullopt: it may try now.
  std::optional<std::chrono::seconds> refused_for(const std::string& address, Clock::time_point now);
  void record_failure(const std::string& address, Clock::time_point now);

  // The key an address is counted under: IPv4 (also IPv4-mapped IPv6) as itself, IPv6 by its /64
  // prefix, since one host commonly holds a whole /64.
  static std::string key_of(const std::string& address);

  static constexpr std::size_t k_default_max_addresses = 65536;

 private:
  struct Entry {
    Clock::time_point window_start;
    int failures = 0;
  };
  bool expired(const Entry& entry, Clock::time_point now) const { return now - entry.window_start >= m_window; }
  void make_room(Clock::time_point now);

  const int m_max_failures;
  const std::chrono::seconds m_window;
  const std::size_t m_max_addresses;
  std::mutex m_mutex;
  std::unordered_map<std::string, Entry> m_entries;
};

}  // namespace ecuup::server
