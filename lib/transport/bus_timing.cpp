#include "transport/bus_timing.hpp"

#include <array>

namespace ecuup {

namespace {

// Classic data frame, base format: SOF, 11-bit id, RTR, IDE, r0, DLC, data, CRC-15 are stuffed.
constexpr std::uint32_t k_classic_base_stuffable = 1 + 11 + 1 + 1 + 1 + 4 + 15;
// Extended format adds SRR, IDE, the 18-bit id extension and r1.
constexpr std::uint32_t k_classic_ext_stuffable = 1 + 11 + 1 + 1 + 18 + 1 + 1 + 1 + 4 + 15;
// CRC delimiter, ACK slot, ACK delimiter, 7-bit EOF, 3-bit interframe space: never stuffed.
constexpr std::uint32_t k_trailer_bits = 1 + 1 + 1 + 7 + 3;
// FD arbitration phase up to and including BRS: SOF, id, RRS, IDE, FDF, res, BRS (base);
// SOF, id A, SRR, IDE, id B, RRS, FDF, res, BRS (extended).
constexpr std::uint32_t k_fd_base_arbitration = 1 + 11 + 1 + 1 + 1 + 1 + 1;
constexpr std::uint32_t k_fd_ext_arbitration = 1 + 11 + 1 + 1 + 18 + 1 + 1 + 1 + 1;
// FD data phase before the CRC field: ESI and DLC (dynamically stuffed with the data).
constexpr std::uint32_t k_fd_control_bits = 1 + 4;
// ISO CRC field: 4-bit stuff count + CRC-17 (data <= 16 bytes) or CRC-21, with a fixed stuff bit
// before it and after every 4 bits (ISO 11898-1:2015).
constexpr std::uint32_t k_fd_stuff_count_bits = 4;
constexpr std::uint32_t k_fd_crc17_bits = 17;
constexpr std::uint32_t k_fd_crc21_bits = 21;
constexpr std::size_t k_fd_crc17_max_data = 16;
constexpr std::uint32_t k_expected_stuff_period = 30;  // random bits: 1 stuff bit per 30 (Markov chain)

constexpr std::array<std::uint8_t, 8> k_fd_lengths{12, 16, 20, 24, 32, 48, 64, 64};

// Stuff bits within the first `n` bits of a stuffed run.
std::uint32_t stuff_bits(std::uint32_t n, BitStuffing stuffing) {
  switch (stuffing) {
    case BitStuffing::none: return 0;
    case BitStuffing::expected: return (n + k_expected_stuff_period / 2) / k_expected_stuff_period;
    case BitStuffing::worst_case: return n >= 5 ? (n - 1) / 4 : 0;
  }
  return 0;
}

}  // namespace

std::uint8_t fd_round_up_length(std::size_t len) {
  if (len <= 8) return static_cast<std::uint8_t>(len);
  for (std::uint8_t l : k_fd_lengths)
    if (len <= l) return l;
  return 64;
}

bool valid_frame_length(std::uint8_t len, bool fd) {
  if (len <= 8) return true;
  return fd && fd_round_up_length(len) == len;
}

FrameBits frame_bits(const CanFrame& frame, BitStuffing stuffing) {
  const std::uint32_t data_bits = 8u * frame.len;
  FrameBits bits;
  if (!frame.fd) {
    const std::uint32_t stuffable = (frame.extended ? k_classic_ext_stuffable : k_classic_base_stuffable) + data_bits;
    const std::uint32_t arbitration = frame.extended ? 1 + 11 + 1 + 1 + 18 + 1 : 1 + 11 + 1;
    bits.arbitration_bits = arbitration + k_trailer_bits;
    bits.data_phase_bits = stuffable - arbitration + stuff_bits(stuffable, stuffing);
    return bits;
  }
  const std::uint32_t arbitration = frame.extended ? k_fd_ext_arbitration : k_fd_base_arbitration;
  const std::uint32_t dynamic = arbitration + k_fd_control_bits + data_bits;
  const std::uint32_t total_dynamic_stuff = stuff_bits(dynamic, stuffing);
  const std::uint32_t arbitration_stuff = stuff_bits(arbitration, stuffing);
  const std::uint32_t crc_bits = frame.len <= k_fd_crc17_max_data ? k_fd_crc17_bits : k_fd_crc21_bits;
  const std::uint32_t crc_field = k_fd_stuff_count_bits + crc_bits;
  const std::uint32_t fixed_stuff = stuffing == BitStuffing::none ? 0 : 1 + (crc_field - 1) / 4;
  bits.arbitration_bits = arbitration + arbitration_stuff + k_trailer_bits;
  bits.data_phase_bits = k_fd_control_bits + data_bits + (total_dynamic_stuff - arbitration_stuff) + crc_field + fixed_stuff;
  return bits;
}

std::chrono::nanoseconds frame_duration(const CanFrame& frame, std::uint32_t bitrate, std::uint32_t data_bitrate,
                                        BitStuffing stuffing) {
  const FrameBits bits = frame_bits(frame, stuffing);
  const double nominal = bitrate;
  const double data = (frame.fd && frame.brs && data_bitrate > 0) ? data_bitrate : nominal;
  const double ns = 1e9 * (bits.arbitration_bits / nominal + bits.data_phase_bits / data);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(ns + 0.5));
}

}  // namespace ecuup
