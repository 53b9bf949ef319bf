#pragma once
// A virtual CAN bus over UDP on 127.0.0.1: one datagram carries one Linux can_frame (16 bytes) or
// canfd_frame (72 bytes) image, so any tool that speaks CAN_RAW images can join.
#include <cstdint>
#include <memory>

#include "transport/bus.hpp"
#include "transport/frame_bus.hpp"
#include "util/result.hpp"

namespace ecuup {

class UdpBus final : public FrameBus {
 public:
  // Binds 127.0.0.1:local_port (0 = any free port) and sends to 127.0.0.1:remote_port.
  static Result<std::shared_ptr<UdpBus>> open(std::uint16_t local_port, std::uint16_t remote_port);
  ~UdpBus() override;
  UdpBus(const UdpBus&) = delete;
  UdpBus& operator=(const UdpBus&) = delete;

  Result<void> send(const CanFrame& frame) override;
  Result<CanFrame> receive(std::chrono::microseconds timeout) override;
  std::string name() const override;

  std::uint16_t local_port() const { return m_local_port; }
  // Datagrams that were not a valid frame image (wrong size, RTR/error frames); they are skipped.
  std::uint64_t dropped_datagrams() const { return m_dropped; }

 private:
  UdpBus(int fd, std::uint16_t local_port, std::uint16_t remote_port);
  int m_fd;
  SocketReceiver m_receiver;
  std::uint16_t m_local_port;
  std::uint16_t m_remote_port;
  std::uint64_t m_dropped = 0;
};

}  // namespace ecuup
