#include <catch2/catch.hpp>

#include <linux/can.h>

#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/can_frame.hpp"
#include "support/temp_dir.hpp"
#include "transport/bus.hpp"
#include "transport/bus_timing.hpp"

using namespace ecuup;
using namespace std::chrono_literals;

namespace {

using test::frame_of;

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("classic frame images are Linux struct can_frame", "[transport][bus]") {
  FrameImage image;
  auto size = encode_frame_image(frame_of(0x7E0, {0x02, 0x3E, 0x00}), image);
  REQUIRE(size.ok());
  REQUIRE(*size == 16);
  can_frame expect{};
  expect.can_id = 0x7E0;
  expect.len = 3;
  expect.data[0] = 0x02;
  expect.data[1] = 0x3E;
  CHECK(std::memcmp(image.data(), &expect, 16) == 0);

  size = encode_frame_image(frame_of(0x18DA10F1, {1, 2, 3, 4, 5, 6, 7, 8}, false, true), image);
  REQUIRE(size.ok());
  std::uint32_t can_id = 0;
  std::memcpy(&can_id, image.data(), 4);
  CHECK(can_id == (0x18DA10F1u | CAN_EFF_FLAG));
  CHECK(image[4] == 8);
  CHECK(image[8] == 1);
  CHECK(image[15] == 8);
}

TEST_CASE("FD frame images are Linux struct canfd_frame with FDF and BRS flags", "[transport][bus]") {
  FrameImage image;
  std::vector<std::uint8_t> data(12);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i + 1);
  auto size = encode_frame_image(frame_of(0x123, data, true, false, true), image);
  REQUIRE(size.ok());
  REQUIRE(*size == 72);
  canfd_frame expect{};
  expect.can_id = 0x123;
  expect.len = 12;
  expect.flags = CANFD_BRS | CANFD_FDF;
  std::memcpy(expect.data, data.data(), data.size());
  CHECK(std::memcmp(image.data(), &expect, 72) == 0);

  auto back = decode_frame_image(std::span<const std::uint8_t>(image.data(), 72));
  REQUIRE(back.ok());
  CHECK(back->fd);
  CHECK(back->brs);
  CHECK(back->id == 0x123);
  CHECK(back->len == 12);
  CHECK(back->data[11] == 12);
}

TEST_CASE("frame images decode and reject what CAN_RAW would not carry", "[transport][bus]") {
  FrameImage image;
  REQUIRE(encode_frame_image(frame_of(0x1ABCDEF0, {9, 8, 7}, false, true), image).ok());
  auto back = decode_frame_image(std::span<const std::uint8_t>(image.data(), 16));
  REQUIRE(back.ok());
  CHECK(back->extended);
  CHECK(back->id == 0x1ABCDEF0);
  CHECK_FALSE(back->fd);
  CHECK(back->len == 3);

  CHECK_FALSE(decode_frame_image(std::span<const std::uint8_t>(image.data(), 20)).ok());
  can_frame rtr{};
  rtr.can_id = 0x7E0 | CAN_RTR_FLAG;
  CHECK_FALSE(decode_frame_image(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&rtr), 16)).ok());
  can_frame too_long{};
  too_long.can_id = 0x7E0;
  too_long.len = 9;
  CHECK_FALSE(decode_frame_image(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&too_long), 16)).ok());
  canfd_frame odd{};
  odd.can_id = 0x7E0;
  odd.len = 13;
  CHECK_FALSE(decode_frame_image(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&odd), 72)).ok());

  CHECK(encode_frame_image(frame_of(0x800, {1}), image).error().code == Errc::protocol);
  CHECK_FALSE(encode_frame_image(frame_of(0x7E0, std::vector<std::uint8_t>(12)), image).ok());
  CHECK_FALSE(encode_frame_image(frame_of(0x7E0, std::vector<std::uint8_t>(13), true), image).ok());
}

TEST_CASE("open_frame_bus rejects bad specs", "[transport][bus]") {
  for (const char* spec : {"", "udp:", "udp:1", "udp:a:b", "udp:1:70000", "udp:1:0", "udp:-1:2", "tcp:1:2", "socketcan:",
                           "socketcan:an-interface-name-too-long"}) {
    auto bus = open_frame_bus(spec);
    INFO(spec);
    REQUIRE_FALSE(bus.ok());
    CHECK(bus.error().code == Errc::config);
  }
}

TEST_CASE("socketcan fails cleanly where the kernel has no SocketCAN", "[transport][bus]") {
  auto bus = open_frame_bus("socketcan:ecuupcan9");
  REQUIRE_FALSE(bus.ok());
  // Without PF_CAN: unsupported; with it, the interface does not exist.
  CHECK((bus.error().code == Errc::unsupported || bus.error().code == Errc::not_found));
  CHECK(bus.error().message.find("ecuupcan9") != std::string::npos);
}

TEST_CASE("memory bus pair delivers frames in order and times out when empty", "[transport][bus]") {
  auto [a, b] = make_memory_bus_pair();
  REQUIRE(a->send(frame_of(0x7E0, {1})).ok());
  REQUIRE(a->send(frame_of(0x7E0, {2})).ok());
  CHECK(b->receive(10ms)->data[0] == 1);
  CHECK(b->receive(10ms)->data[0] == 2);
  auto none = b->receive(1ms);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == Errc::timeout);
  CHECK_FALSE(a->receive(0us).ok());
}

TEST_CASE("a traced bus writes every frame in both directions", "[transport][bus][trace]") {
  test::TempDir dir;
  auto [a, b] = make_memory_bus_pair();
  {
    auto traced = make_traced_bus(a, dir / "trace.log", "vcan0");
    REQUIRE(traced.ok());
    REQUIRE((*traced)->send(frame_of(0x7E0, {0x02, 0x10, 0x03})).ok());
    REQUIRE(b->send(frame_of(0x7E8, {0x06, 0x50, 0x03})).ok());
    REQUIRE((*traced)->receive(10ms).ok());
    CHECK_FALSE((*traced)->receive(0us).ok());
  }
  auto lines = lines_of(dir / "trace.log");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].substr(lines[0].find(')')) == ") vcan0 7E0#021003");
  CHECK(lines[1].substr(lines[1].find(')')) == ") vcan0 7E8#065003");

  auto unwritable = make_traced_bus(a, dir / "missing-dir" / "trace.log", "vcan0");
  REQUIRE_FALSE(unwritable.ok());
  CHECK(unwritable.error().code == Errc::io);
}

TEST_CASE("a paced bus spaces frames by their modelled duration", "[transport][bus][bus_timing]") {
  auto [a, b] = make_memory_bus_pair();
  constexpr std::uint32_t bitrate = 50'000;
  auto paced = make_paced_bus(a, bitrate);
  const CanFrame f = frame_of(0x7E0, {1, 2, 3, 4, 5, 6, 7, 8});
  const auto per_frame = frame_duration(f, bitrate, 0);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) REQUIRE(paced->send(f).ok());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Lower bound only: the model must not let frames leave faster than the bus could carry them.
  CHECK(elapsed >= 10 * per_frame - 100us);
  for (int i = 0; i < 10; ++i) CHECK(b->receive(10ms).ok());
}

TEST_CASE("a paced bus gives no oversleep credit to a frame after a pause", "[transport][bus][bus_timing]") {
  auto [a, b] = make_memory_bus_pair();
  constexpr std::uint32_t bitrate = 50'000;
  auto paced = make_paced_bus(a, bitrate);
  const CanFrame f = frame_of(0x7E0, {1, 2, 3, 4, 5, 6, 7, 8});
  const auto per_frame = frame_duration(f, bitrate, 0);
  for (int round = 0; round < 5; ++round) {
    REQUIRE(paced->send(f).ok());  // overslept a little, as every sleep does
    std::this_thread::sleep_for(5ms);  // the bus idles: the tester waits for an answer
    const auto before = std::chrono::steady_clock::now();
    REQUIRE(paced->send(f).ok());
    // The frame after the pause takes its whole duration; no earlier oversleep is credited to it.
    CHECK(std::chrono::steady_clock::now() - before >= per_frame);
  }
  for (int i = 0; i < 10; ++i) CHECK(b->receive(10ms).ok());
}

TEST_CASE("open_frame_bus layers trace and timing over a udp bus", "[transport][bus]") {
  test::TempDir dir;
  BusOptions options;
  options.trace_file = dir / "bus.log";
  options.bitrate = 500'000;
  auto opened = open_frame_bus("udp:0:9", options);
  REQUIRE(opened.ok());
  std::shared_ptr<FrameBus> bus = std::move(opened).value();
  CHECK(bus->name().starts_with("udp:"));
  REQUIRE(bus->send(frame_of(0x7DF, {0x02, 0x3E, 0x80})).ok());
  bus.reset();  // closing flushes the trace
  auto lines = lines_of(dir / "bus.log");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].ends_with(" 7DF#023E80"));
}
