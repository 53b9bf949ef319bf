#include <catch2/catch.hpp>

#include "server/auth_limiter.hpp"

using namespace ecuup::server;
using namespace std::chrono_literals;

namespace {
const AuthLimiter::Clock::time_point t0{};
}  // namespace

TEST_CASE("auth limiter: refuses an address after N failures in its window, then lets it try again",
          "[server][auth_limiter]") {
  AuthLimiter limiter(3, 60s);
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE(limiter.refused_for("10.0.0.1", t0 + std::chrono::seconds(i)));
    limiter.record_failure("10.0.0.1", t0 + std::chrono::seconds(i));
  }
  auto wait = limiter.refused_for("10.0.0.1", t0 + 10s);
  REQUIRE(wait);
  CHECK(*wait == 50s);  // the window began at the first failure
  CHECK(limiter.refused_for("10.0.0.1", t0 + 59s + 500ms) == 1s);  // rounded up, never 0
  CHECK_FALSE(limiter.refused_for("10.0.0.2", t0 + 10s));           // other addresses are not affected
  CHECK_FALSE(limiter.refused_for("10.0.0.1", t0 + 60s));           // the window is over
  // A new window starts with the next failure.
  limiter.record_failure("10.0.0.1", t0 + 61s);
  CHECK_FALSE(limiter.refused_for("10.0.0.1", t0 + 62s));
}

TEST_CASE("auth limiter: failures spread over more than a window never block", "[server][auth_limiter]") {
  AuthLimiter limiter(2, 10s);
  limiter.record_failure("a", t0);
  limiter.record_failure("a", t0 + 11s);
  CHECK_FALSE(limiter.refused_for("a", t0 + 12s));
}

TEST_CASE("auth limiter: limit 0 never refuses", "[server][auth_limiter]") {
  AuthLimiter limiter(0, 10s);
  for (int i = 0; i < 100; ++i) limiter.record_failure("a", t0);
  CHECK_FALSE(limiter.refused_for("a", t0));
}

TEST_CASE("auth limiter: IPv6 addresses count per /64, IPv4-mapped ones as IPv4", "[server][auth_limiter]") {
  CHECK(AuthLimiter::key_of("2001:db8:1:2:aaaa::1") == AuthLimiter::key_of("2001:db8:1:2:bbbb::2"));
  CHECK(AuthLimiter::key_of("2001:db8:1:2::1") != AuthLimiter::key_of("2001:db8:1:3::1"));
  CHECK(AuthLimiter::key_of("::ffff:192.0.2.7") == "192.0.2.7");
  CHECK(AuthLimiter::key_of("192.0.2.7") == "192.0.2.7");
  AuthLimiter limiter(1, 10s);
  limiter.record_failure("2001:db8:1:2::1", t0);
  CHECK(limiter.refused_for("2001:db8:1:2::99", t0));
}

TEST_CASE("auth limiter: the table of addresses stays bounded", "[server][auth_limiter]") {
  AuthLimiter limiter(1, 60s, 4);
  for (int i = 0; i < 10; ++i) limiter.record_failure("10.0.0." + std::to_string(i), t0 + std::chrono::seconds(i));
  // The newest are still counted; the oldest gave way.
  CHECK(limiter.refused_for("10.0.0.9", t0 + 10s));
  CHECK_FALSE(limiter.refused_for("10.0.0.0", t0 + 10s));
}
