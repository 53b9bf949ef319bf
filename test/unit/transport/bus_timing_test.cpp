#include <catch2/catch.hpp>

#include "transport/bus_timing.hpp"

using namespace ecuup;
using namespace std::chrono_literals;

namespace {
CanFrame frame_of(std::uint8_t len, bool fd = false, bool extended = false, bool brs = false) {
  CanFrame f;
  f.id = extended ? 0x18DA10F1 : 0x7E0;
  f.extended = extended;
  f.fd = fd;
  f.brs = brs;
  f.len = len;
  return f;
}
}  // namespace

TEST_CASE("classic frame bits match the textbook figures", "[transport][bus_timing]") {
  // 8 data bytes: 111 bits unstuffed (base), 131 (extended); worst case 135 and 160.
  CHECK(frame_bits(frame_of(8), BitStuffing::none).total() == 111);
  CHECK(frame_bits(frame_of(8, false, true), BitStuffing::none).total() == 131);
  CHECK(frame_bits(frame_of(8), BitStuffing::worst_case).total() == 135);
  CHECK(frame_bits(frame_of(8, false, true), BitStuffing::worst_case).total() == 160);
  CHECK(frame_bits(frame_of(0), BitStuffing::none).total() == 47);
  CHECK(frame_bits(frame_of(0), BitStuffing::worst_case).total() == 47 + 8);
  // Expected stuffing lies between the bounds.
  const auto expected = frame_bits(frame_of(8)).total();
  CHECK(expected > 111);
  CHECK(expected < 135);
}

TEST_CASE("CAN FD frame bits split into arbitration and data phase", "[transport][bus_timing]") {
  // Base id, 64 bytes: arbitration SOF..BRS 17 + trailer 13; data ESI+DLC 5, 512 data bits,
  // stuff count 4 + CRC-21.
  const FrameBits none = frame_bits(frame_of(64, true, false, true), BitStuffing::none);
  CHECK(none.arbitration_bits == 30);
  CHECK(none.data_phase_bits == 5 + 512 + 25);
  // CRC-17 up to 16 bytes.
  CHECK(frame_bits(frame_of(16, true), BitStuffing::none).data_phase_bits == 5 + 128 + 21);
  CHECK(frame_bits(frame_of(20, true), BitStuffing::none).data_phase_bits == 5 + 160 + 25);
  // Worst case adds dynamic stuff bits and the fixed stuff bits of the CRC field (6 / 7).
  const FrameBits worst = frame_bits(frame_of(64, true, false, true), BitStuffing::worst_case);
  CHECK(worst.arbitration_bits == 30 + 4);
  CHECK(worst.data_phase_bits == 5 + 512 + ((17 + 5 + 512 - 1) / 4 - 4) + 25 + 7);
  CHECK(frame_bits(frame_of(8, true), BitStuffing::worst_case).data_phase_bits ==
        5 + 64 + ((17 + 5 + 64 - 1) / 4 - 4) + 21 + 6);
}

TEST_CASE("frame durations use the data bitrate only for BRS frames", "[transport][bus_timing]") {
  CHECK(frame_duration(frame_of(8), 500'000, 0, BitStuffing::none) == 222us);
  CHECK(frame_duration(frame_of(8), 500'000, 2'000'000, BitStuffing::none) == 222us);
  // 30 bits at 500 kbit/s + 542 bits at 2 Mbit/s = 60 µs + 271 µs.
  CHECK(frame_duration(frame_of(64, true, false, true), 500'000, 2'000'000, BitStuffing::none) == 331us);
  // Without BRS everything goes at the nominal rate.
  CHECK(frame_duration(frame_of(64, true, false, false), 500'000, 2'000'000, BitStuffing::none) == 1144us);
  CHECK(frame_duration(frame_of(64, true, false, true), 500'000, 0, BitStuffing::none) == 1144us);
}

TEST_CASE("CAN FD lengths round up to the next DLC length", "[transport][bus_timing]") {
  CHECK(fd_round_up_length(0) == 0);
  CHECK(fd_round_up_length(8) == 8);
  CHECK(fd_round_up_length(9) == 12);
  CHECK(fd_round_up_length(12) == 12);
  CHECK(fd_round_up_length(13) == 16);
  CHECK(fd_round_up_length(21) == 24);
  CHECK(fd_round_up_length(25) == 32);
  CHECK(fd_round_up_length(33) == 48);
  CHECK(fd_round_up_length(49) == 64);
  CHECK(fd_round_up_length(64) == 64);
  CHECK(valid_frame_length(8, false));
  CHECK_FALSE(valid_frame_length(12, false));
  CHECK(valid_frame_length(12, true));
  CHECK_FALSE(valid_frame_length(13, true));
  CHECK_FALSE(valid_frame_length(65, true));
}
