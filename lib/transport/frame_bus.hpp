#pragma once
// The seam between ISO-TP and a CAN bus. Implementations: socketcan:IFACE (Linux CAN_RAW) and
// udp:LOCALPORT:REMOTEPORT (loopback datagrams carrying Linux can_frame/canfd_frame images).
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "util/result.hpp"

namespace ecuup {

struct CanFrame {
  std::uint32_t id = 0;  // 11-bit, or 29-bit when `extended`
  bool extended = false;
  bool fd = false;   // CAN FD frame (up to 64 data bytes)
  bool brs = false;  // FD bit-rate switch
  std::uint8_t len = 0;  // classic: 0..8; FD: one of 0..8,12,16,20,24,32,48,64
  std::array<std::uint8_t, 64> data{};
};

class FrameBus {
 public:
  virtual ~FrameBus() = default;
  virtual Result<void> send(const CanFrame& frame) = 0;
  // Waits up to `timeout` for the next frame; Errc::timeout when none arrived.
  virtual Result<CanFrame> receive(std::chrono::microseconds timeout) = 0;
  virtual std::string name() const = 0;
};

}  // namespace ecuup
