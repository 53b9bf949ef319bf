#pragma once
// Linux SocketCAN: a CAN_RAW socket with CAN_RAW_FD_FRAMES, carrying classic and FD frames.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "transport/bus.hpp"
#include "transport/frame_bus.hpp"
#include "util/result.hpp"

namespace ecuup {

class SocketCanBus final : public FrameBus {
 public:
  // Errc::unsupported when the kernel has no SocketCAN (PF_CAN), Errc::not_found for an unknown
  // interface, Errc::io otherwise.
  static Result<std::shared_ptr<SocketCanBus>> open(const std::string& iface);
  ~SocketCanBus() override;
  SocketCanBus(const SocketCanBus&) = delete;
  SocketCanBus& operator=(const SocketCanBus&) = delete;

  // From now on receive only frames with these ids (CAN_RAW_FILTER; 29-bit when `extended`).
  Result<void> receive_only(std::span<const std::uint32_t> ids, bool extended);

  Result<void> send(const CanFrame& frame) override;
  Result<CanFrame> receive(std::chrono::microseconds timeout) override;
  std::string name() const override { return "socketcan:" + m_iface; }

 private:
  SocketCanBus(int fd, std::string iface) : m_fd(fd), m_receiver(fd), m_iface(std::move(iface)) {}
  int m_fd;
  SocketReceiver m_receiver;
  std::string m_iface;
};

// The socket() failure text shared by the CAN_RAW and CAN_ISOTP openers.
Error can_socket_error(const char* what, int error_number);

}  // namespace ecuup
