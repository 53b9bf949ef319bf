#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "transport/bus.hpp"
#include "transport/bus_mux.hpp"

using namespace ecuup;
using namespace std::chrono_literals;

namespace {
CanFrame frame_of(std::uint32_t id, std::uint8_t first, bool extended = false) {
  CanFrame f;
  f.id = id;
  f.extended = extended;
  f.len = 1;
  f.data[0] = first;
  return f;
}
}  // namespace

TEST_CASE("mux views see only their id; functional ids reach every subscriber", "[transport][bus_mux]") {
  auto [tester, shared] = make_memory_bus_pair();
  BusMux mux(shared);
  auto ecu1 = mux.subscribe(0x7E0, false);
  auto ecu2 = mux.subscribe(0x7E1, false);
  auto functional1 = mux.subscribe(0x7DF, false);
  auto functional2 = mux.subscribe(0x7DF, false);
  auto extended = mux.subscribe(0x7E0, true);

  REQUIRE(tester->send(frame_of(0x7E1, 1)).ok());
  REQUIRE(tester->send(frame_of(0x7DF, 2)).ok());
  REQUIRE(tester->send(frame_of(0x123, 3)).ok());
  REQUIRE(tester->send(frame_of(0x7E0, 4)).ok());
  REQUIRE(tester->send(frame_of(0x7E0, 5, true)).ok());

  auto got = ecu1->receive(100ms);
  REQUIRE(got.ok());
  CHECK(got->data[0] == 4);
  CHECK(ecu2->receive(100ms)->data[0] == 1);
  CHECK(functional1->receive(100ms)->data[0] == 2);
  CHECK(functional2->receive(100ms)->data[0] == 2);
  CHECK(extended->receive(100ms)->data[0] == 5);
  CHECK_FALSE(ecu1->receive(1ms).ok());
  CHECK_FALSE(ecu2->receive(0us).ok());
  CHECK(mux.unclaimed_frames() == 1);

  // Sends from a view go to the bus.
  REQUIRE(ecu1->send(frame_of(0x7E8, 9)).ok());
  CHECK(tester->receive(100ms)->id == 0x7E8);
}

TEST_CASE("mux views receive concurrently from several threads", "[transport][bus_mux]") {
  auto [tester, shared] = make_memory_bus_pair();
  BusMux mux(shared);
  constexpr int k_frames = 200;
  constexpr int k_views = 4;
  std::vector<std::shared_ptr<FrameBus>> views;
  for (int v = 0; v < k_views; ++v) views.push_back(mux.subscribe(0x700 + static_cast<std::uint32_t>(v), false));
  std::atomic<int> received{0};
  std::atomic<int> out_of_order{0};
  std::vector<std::thread> threads;
  for (int v = 0; v < k_views; ++v) {
    threads.emplace_back([&, v] {
      for (int i = 0; i < k_frames; ++i) {
        auto f = views[static_cast<std::size_t>(v)]->receive(2s);
        if (!f) return;
        if (f->data[0] != static_cast<std::uint8_t>(i)) ++out_of_order;
        ++received;
      }
    });
  }
  for (int i = 0; i < k_frames; ++i)
    for (int v = 0; v < k_views; ++v)
      REQUIRE(tester->send(frame_of(0x700 + static_cast<std::uint32_t>(v), static_cast<std::uint8_t>(i))).ok());
  for (auto& t : threads) t.join();
  CHECK(received == k_frames * k_views);
  CHECK(out_of_order == 0);
}

TEST_CASE("a view outlives its mux and unsubscribes when dropped", "[transport][bus_mux]") {
  auto [tester, shared] = make_memory_bus_pair();
  std::shared_ptr<FrameBus> view;
  {
    BusMux mux(shared);
    view = mux.subscribe(0x7E0, false);
    auto dropped = mux.subscribe(0x7E1, false);
  }
  REQUIRE(tester->send(frame_of(0x7E1, 1)).ok());
  REQUIRE(tester->send(frame_of(0x7E0, 2)).ok());
  auto got = view->receive(100ms);
  REQUIRE(got.ok());
  CHECK(got->data[0] == 2);
}
