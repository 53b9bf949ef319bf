#include "transport/socketcan_bus.hpp"

#include <linux/can.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "transport/bus.hpp"

namespace ecuup {

namespace {
constexpr int k_receive_buffer_bytes = 4 * 1024 * 1024;
}  // namespace

Error can_socket_error(const char* what, int error_number) {
  if (error_number == EAFNOSUPPORT || error_number == EPROTONOSUPPORT)
    return make_error(Errc::unsupported, std::string(what) + ": this kernel has no SocketCAN support (" +
                                             std::strerror(error_number) + "); load the can modules or use a udp: bus");
  return make_error(Errc::io, std::string(what) + ": " + std::strerror(error_number));
}

Result<std::shared_ptr<SocketCanBus>> SocketCanBus::open(const std::string& iface) {
  const std::string where = "socketcan:" + iface;
  if (iface.empty() || iface.size() >= IFNAMSIZ) return make_error(Errc::config, where + ": bad interface name");
  const int fd = ::socket(PF_CAN, SOCK_RAW | SOCK_CLOEXEC, CAN_RAW);
  if (fd < 0) return can_socket_error((where + ": CAN_RAW socket").c_str(), errno);
  auto fail = [&](Error error) {
    ::close(fd);
    return error;
  };
  const int on = 1;
  if (::setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, &on, sizeof on) != 0)
    return fail(make_error(Errc::unsupported, where + ": CAN_RAW_FD_FRAMES: " + std::strerror(errno)));
  // A virtual bus (vcan) delivers frames as fast as the peer writes them: a receiver that is not
  // scheduled for a while would lose consecutive frames from the default-sized queue. Best effort:
  // beyond net.core.rmem_max it needs CAP_NET_ADMIN.
  const int receive_buffer_bytes = k_receive_buffer_bytes;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer_bytes, sizeof receive_buffer_bytes) != 0)
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
  const unsigned index = ::if_nametoindex(iface.c_str());
  if (index == 0) return fail(make_error(Errc::not_found, where + ": no such CAN interface"));
  sockaddr_can addr{};
  addr.can_family = AF_CAN;
  addr.can_ifindex = static_cast<int>(index);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return fail(make_error(Errc::io, where + ": bind: " + std::strerror(errno)));
  return std::shared_ptr<SocketCanBus>(new SocketCanBus(fd, iface));
}

SocketCanBus::~SocketCanBus() { ::close(m_fd); }

Result<void> SocketCanBus::receive_only(std::span<const std::uint32_t> ids, bool extended) {
  std::vector<can_filter> filters;
  for (std::uint32_t id : ids) {
    // The mask takes in the EFF flag so that an 11-bit filter never passes a 29-bit frame (and back).
    if (extended) filters.push_back({id | CAN_EFF_FLAG, CAN_EFF_MASK | CAN_EFF_FLAG | CAN_RTR_FLAG});
    else filters.push_back({id, CAN_SFF_MASK | CAN_EFF_FLAG | CAN_RTR_FLAG});
  }
  const auto size = static_cast<socklen_t>(filters.size() * sizeof(can_filter));
  if (::setsockopt(m_fd, SOL_CAN_RAW, CAN_RAW_FILTER, filters.data(), size) != 0)
    return make_error(Errc::io, name() + ": CAN_RAW_FILTER: " + std::strerror(errno));
  return success();
}

Result<void> SocketCanBus::send(const CanFrame& frame) {
  FrameImage image;
  ECUUP_ASSIGN(const std::size_t size, encode_frame_image(frame, image));
  for (;;) {
    const ssize_t n = ::write(m_fd, image.data(), size);
    if (n == static_cast<ssize_t>(size)) return success();
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      // The interface's tx queue is full: wait until the socket is writable again.
      pollfd pfd{m_fd, POLLOUT, 0};
      (void)::poll(&pfd, 1, 100);
      continue;
    }
    return make_error(Errc::io, name() + ": send: " + (n < 0 ? std::strerror(errno) : "short write"));
  }
}

Result<CanFrame> SocketCanBus::receive(std::chrono::microseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  FrameImage image;
  for (;;) {
    auto size = m_receiver.receive(image, deadline);
    if (!size) return std::move(size).error().context(name());
    // Error frames and RTR frames are not for ISO-TP; skip them.
    if (*size > image.size()) continue;
    auto frame = decode_frame_image(std::span<const std::uint8_t>(image.data(), *size));
    if (frame) return frame;
  }
}

}  // namespace ecuup
