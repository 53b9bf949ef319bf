#include "server/auth_limiter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

#include "util/bytes.hpp"

namespace ecuup::server {

namespace {
constexpr std::size_t k_ipv6_prefix_bytes = 8;  // a /64
constexpr std::array<std::uint8_t, 12> k_ipv4_mapped_prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}  // namespace

AuthLimiter::AuthLimiter(int max_failures, std::chrono::seconds window, std::size_t max_addresses)
    : m_max_failures(max_failures), m_window(window), m_max_addresses(std::max<std::size_t>(1, max_addresses)) {}

std::string AuthLimiter::key_of(const std::string& address) {
  std::array<std::uint8_t, 16> v6{};
  if (address.find(':') == std::string::npos || inet_pton(AF_INET6, address.c_str(), v6.data()) != 1) {
    return address;
  }
  if (std::equal(k_ipv4_mapped_prefix.begin(), k_ipv4_mapped_prefix.end(), v6.begin())) {
    return std::to_string(v6[12]) + "." + std::to_string(v6[13]) + "." + std::to_string(v6[14]) + "." +
           std::to_string(v6[15]);
  }
  return to_hex(ByteView(v6.data(), k_ipv6_prefix_bytes)) + "::/64";
}

std::optional<std::chrono::seconds> AuthLimiter::refused_for(const std::string& address, Clock::time_point now) {
  if (m_max_failures <= 0) return std::nullopt;
  std::lock_guard lock(m_mutex);
  auto it = m_entries.find(key_of(address));
  if (it == m_entries.end() || it->second.failures < m_max_failures) return std::nullopt;
  if (expired(it->second, now)) {
    m_entries.erase(it);
    return std::nullopt;
  }
  auto left = it->second.window_start + m_window - now;
  // Whole seconds, rounded up: Retry-After 0 would invite an immediate retry.
  auto seconds = std::chrono::ceil<std::chrono::seconds>(left);
  return std::max(seconds, std::chrono::seconds(1));
}

void AuthLimiter::record_failure(const std::string& address, Clock::time_point now) {
  if (m_max_failures <= 0) return;
  std::lock_guard lock(m_mutex);
  std::string key = key_of(address);
  auto it = m_entries.find(key);
  if (it == m_entries.end()) {
    if (m_entries.size() >= m_max_addresses) make_room(now);
    it = m_entries.emplace(key, Entry{now, 0}).first;
  } else if (expired(it->second, now)) {
    it->second = Entry{now, 0};
  }
  ++it->second.failures;
}

// Many addresses failing at once (a spray from a large network): forget the finished windows, and
// if that is not enough, the oldest one, so the table stays bounded.
void AuthLimiter::make_room(Clock::time_point now) {
  std::erase_if(m_entries, [&](const auto& item) { return expired(item.second, now); });
  if (m_entries.size() < m_max_addresses) return;
  auto oldest = std::min_element(m_entries.begin(), m_entries.end(), [](const auto& a, const auto& b) {
    return a.second.window_start < b.second.window_start;
  });
  m_entries.erase(oldest);
}

}  // namespace ecuup::server
