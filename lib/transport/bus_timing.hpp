#pragma once
// Bits on the wire for one CAN frame (ISO 11898-1), for the bus-timing model and for benchmarks
// that hold a transfer against the physical ceiling of the bus.
#include <chrono>
#include <cstdint>

#include "transport/frame_bus.hpp"

namespace ecuup {

enum class BitStuffing {
  none,        // no stuff bits (a lower bound)
  expected,    // random payload: one dynamic stuff bit per 30 stuffable bits on average
  worst_case,  // one stuff bit after the first 5 stuffable bits and then after every 4
};

// A frame's bits split by bit-rate phase. For classic frames and FD frames without BRS every bit
// goes at the nominal rate; with BRS the data phase (ESI..CRC) goes at the data bitrate.
struct FrameBits {
  std::uint32_t arbitration_bits = 0;  // SOF..BRS (FD) and CRC delimiter..IFS, always nominal
  std::uint32_t data_phase_bits = 0;   // ESI, DLC, data, stuff count and CRC (FD); control..CRC (classic)
  std::uint32_t total() const { return arbitration_bits + data_phase_bits; }
};

// Bits of a data frame including the 3-bit interframe space, with stuffing as requested.
FrameBits frame_bits(const CanFrame& frame, BitStuffing stuffing = BitStuffing::expected);

// Time the frame occupies the bus. `data_bitrate` 0 means the same as `bitrate`; it only applies
// to FD frames with BRS. `bitrate` must be > 0.
std::chrono::nanoseconds frame_duration(const CanFrame& frame, std::uint32_t bitrate, std::uint32_t data_bitrate,
                                        BitStuffing stuffing = BitStuffing::expected);

// The next valid CAN FD data length at or above `len` (0..8, 12, 16, 20, 24, 32, 48, 64); 64 caps.
std::uint8_t fd_round_up_length(std::size_t len);
// True for the lengths a frame may carry: 0..8 classic, plus 12..64 in FD steps for FD frames.
bool valid_frame_length(std::uint8_t len, bool fd);

}  // namespace ecuup
