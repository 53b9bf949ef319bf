// wait_for_ecu's schedule on a fake clock: when an ECU that restarts is asked again, how long each
// attempt listens, and when the wait gives up.
#include <catch2/catch.hpp>

#include "uds/programming.hpp"
#include "util/cancel.hpp"

using namespace ecuup;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

class FakeClock final : public WaitClock {
 public:
  std::chrono::steady_clock::time_point now() override { return m_now; }
  bool pause(milliseconds pause) override {
    pauses.push_back(pause);
    m_now += pause;
    return !interrupt_at || since_start() < *interrupt_at;
  }
  void advance(milliseconds by) { m_now += by; }
  milliseconds since_start() const { return std::chrono::duration_cast<milliseconds>(m_now - m_start); }

  std::vector<milliseconds> pauses;
  std::optional<milliseconds> interrupt_at;  // pause() reports an interruption from then on

 private:
  std::chrono::steady_clock::time_point m_start{std::chrono::hours(1)};
  std::chrono::steady_clock::time_point m_now{m_start};
};

constexpr milliseconds k_p2{150};

// An ECU that restarted at time 0 and answers requests that reach it from `back_at` on. Before,
// a request is lost: the attempt listens for its whole window and meets silence (or, when the
// entity is off the network, its connection is refused at once).
struct RestartingEcu {
  RestartingEcu(FakeClock& c, milliseconds back, bool refuses = false)
      : clock(c), back_at(back), refuses_while_down(refuses) {}

  FakeClock& clock;
  milliseconds back_at;
  bool refuses_while_down;
  std::vector<milliseconds> asked_at;
  std::vector<milliseconds> listens;

  Result<void> operator()(milliseconds listen) {
    asked_at.push_back(clock.since_start());
    listens.push_back(listen);
    if (clock.since_start() >= back_at) return success();
    if (refuses_while_down) return make_error(Errc::network, "connect: Connection refused");
    clock.advance(std::min(listen, k_p2));  // the client waits no longer than P2 in any case
    return make_error(Errc::timeout, "DiagnosticSessionControl 0x01: no response");
  }
};

EcuPoll reset_poll() {
  return EcuPoll{.first_delay = 10ms, .interval = 10ms, .max_interval = 2000ms, .patience = 15000ms};
}

struct InterruptGuard {
  InterruptGuard() { clear_interrupt(); }
  ~InterruptGuard() { clear_interrupt(); }
};

}  // namespace

TEST_CASE("a fast ECU is polled early and met soon after it is back", "[uds]") {
  FakeClock clock;
  RestartingEcu ecu{clock, 50ms};
  auto r = wait_for_ecu(std::ref(ecu), {}, reset_poll(), EcuWait::nrc_retries, clock);
  REQUIRE(r);
  REQUIRE(ecu.asked_at.size() >= 2);
  CHECK(ecu.asked_at.front() == 10ms);  // the configured first delay, not a fixed long sleep
  // Backing off by half: an ECU back at T is met by 1.5 T (plus one first interval) at the latest.
  CHECK(ecu.asked_at.back() >= 50ms);
  CHECK(ecu.asked_at.back() <= 85ms);
  // Each unanswered attempt listened only until the next was due.
  for (std::size_t i = 0; i + 1 < ecu.asked_at.size(); ++i) CHECK(ecu.asked_at[i] + ecu.listens[i] == ecu.asked_at[i + 1]);
}

TEST_CASE("a slow ECU is waited for with growing intervals up to the maximum", "[uds]") {
  FakeClock clock;
  RestartingEcu ecu{clock, 6000ms};
  auto r = wait_for_ecu(std::ref(ecu), {}, reset_poll(), EcuWait::nrc_retries, clock);
  REQUIRE(r);
  CHECK(ecu.asked_at.back() >= 6000ms);
  CHECK(ecu.asked_at.back() <= 8000ms);
  std::vector<milliseconds> gaps;
  for (std::size_t i = 0; i + 1 < ecu.asked_at.size(); ++i) gaps.push_back(ecu.asked_at[i + 1] - ecu.asked_at[i]);
  REQUIRE(gaps.size() > 3);
  for (std::size_t i = 0; i + 1 < gaps.size(); ++i) CHECK(gaps[i + 1] >= gaps[i]);
  CHECK(gaps.back() == 2000ms);
  CHECK(ecu.asked_at.size() < 25);  // a handful of requests, not a flood
}

TEST_CASE("an ECU that never comes back fails once the patience is spent", "[uds]") {
  FakeClock clock;
  RestartingEcu ecu{clock, milliseconds::max()};
  auto poll = reset_poll();
  poll.patience = 3000ms;
  auto r = wait_for_ecu(std::ref(ecu), {}, poll, EcuWait::nrc_retries, clock);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::timeout);  // the last attempt's error
  CHECK(ecu.asked_at.back() == 3000ms);    // the last attempt falls on the deadline...
  CHECK(ecu.listens.back() == milliseconds::max());  // ...and waits for the ECU's own P2
  CHECK(clock.since_start() == 3000ms + k_p2);
}

TEST_CASE("a powerDownTime puts the first poll later", "[uds]") {
  FakeClock clock;
  RestartingEcu ecu{clock, 50ms};
  auto poll = reset_poll();
  poll.first_delay = 2000ms;  // ECUReset announced powerDownTime 2 (seconds)
  REQUIRE(wait_for_ecu(std::ref(ecu), {}, poll, EcuWait::nrc_retries, clock));
  REQUIRE(ecu.asked_at.size() == 1);
  CHECK(ecu.asked_at.front() == 2000ms);
  SECTION("even past the patience: one attempt is made") {
    FakeClock clock2;
    RestartingEcu late{clock2, milliseconds::max()};
    poll.patience = 1000ms;
    REQUIRE_FALSE(wait_for_ecu(std::ref(late), {}, poll, EcuWait::nrc_retries, clock2));
    CHECK(late.asked_at == std::vector<milliseconds>{2000ms});
  }
}

TEST_CASE("refused connections are retried on the schedule, reconnecting each time", "[uds]") {
  FakeClock clock;
  RestartingEcu ecu{clock, 500ms, true};
  int reconnects = 0;
  auto reconnect = [&]() -> Result<void> {
    ++reconnects;
    if (clock.since_start() < 500ms) return make_error(Errc::network, "connect: Connection refused");
    return success();
  };
  REQUIRE(wait_for_ecu(std::ref(ecu), reconnect, reset_poll(), EcuWait::nrc_retries, clock));
  CHECK(reconnects >= 1);
  // Failing at once, the attempts still keep to the schedule: no busy loop.
  CHECK(ecu.asked_at.size() + static_cast<std::size_t>(reconnects) < 30);
  CHECK(clock.since_start() <= 800ms);
}

TEST_CASE("negative responses end the wait or are waited out, as asked", "[uds]") {
  FakeClock clock;
  int calls = 0;
  auto busy_twice = [&](milliseconds) -> Result<void> {
    if (++calls <= 2) return make_error(Errc::negative_response, "busyRepeatRequest");
    return success();
  };
  SECTION("nrc_fails") {
    auto r = wait_for_ecu(busy_twice, {}, reset_poll(), EcuWait::nrc_fails, clock);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::negative_response);
    CHECK(calls == 1);
  }
  SECTION("nrc_retries") {
    REQUIRE(wait_for_ecu(busy_twice, {}, reset_poll(), EcuWait::nrc_retries, clock));
    CHECK(calls == 3);
  }
  SECTION("other errors end it at once") {
    auto protocol = [&](milliseconds) -> Result<void> {
      ++calls;
      return make_error(Errc::protocol, "garbage");
    };
    auto r = wait_for_ecu(protocol, {}, reset_poll(), EcuWait::nrc_retries, clock);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::protocol);
    CHECK(calls == 1);
  }
}

TEST_CASE("an interruption ends the wait for the ECU", "[uds]") {
  InterruptGuard guard;
  FakeClock clock;
  clock.interrupt_at = 100ms;
  RestartingEcu ecu{clock, milliseconds::max(), true};
  auto r = wait_for_ecu(std::ref(ecu), {}, reset_poll(), EcuWait::nrc_retries, clock);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::interrupted);
  CHECK(clock.since_start() < 15000ms);
}
