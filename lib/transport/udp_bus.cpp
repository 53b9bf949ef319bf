#include "transport/udp_bus.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "transport/bus.hpp"

namespace ecuup {

namespace {

// A burst of frames from a fast sender must not overflow the socket (loopback drops silently);
// 4 MiB holds thousands of frame datagrams.
constexpr int k_receive_buffer_bytes = 4 << 20;

std::string errno_text() { return std::strerror(errno); }

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

UdpBus::UdpBus(int fd, std::uint16_t local_port, std::uint16_t remote_port)
    : m_fd(fd), m_receiver(fd), m_local_port(local_port), m_remote_port(remote_port) {}

UdpBus::~UdpBus() { ::close(m_fd); }

Result<std::shared_ptr<UdpBus>> UdpBus::open(std::uint16_t local_port, std::uint16_t remote_port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(Errc::io, "udp bus: socket: " + errno_text());
  int size = k_receive_buffer_bytes;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);  // capped by rmem_max
  sockaddr_in addr = loopback(local_port);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    Error error = make_error(Errc::io, "udp bus: bind 127.0.0.1:" + std::to_string(local_port) + ": " + errno_text());
    ::close(fd);
    return error;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return std::shared_ptr<UdpBus>(new UdpBus(fd, ntohs(addr.sin_port), remote_port));
}

Result<void> UdpBus::send(const CanFrame& frame) {
  FrameImage image;
  ECUUP_ASSIGN(const std::size_t size, encode_frame_image(frame, image));
  const sockaddr_in to = loopback(m_remote_port);
  for (;;) {
    const ssize_t n = ::sendto(m_fd, image.data(), size, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    if (n == static_cast<ssize_t>(size)) return success();
    if (n < 0 && errno == EINTR) continue;
    // No listener yet is not an error on a bus: the frame is simply not acknowledged by anyone.
    if (n < 0 && errno == ECONNREFUSED) return success();
    return make_error(Errc::io, name() + ": send: " + (n < 0 ? errno_text() : std::string("short datagram")));
  }
}

Result<CanFrame> UdpBus::receive(std::chrono::microseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  FrameImage image;
  for (;;) {
    auto size = m_receiver.receive(image, deadline);
    if (!size) return std::move(size).error().context(name());
    if (*size <= image.size()) {
      auto frame = decode_frame_image(std::span<const std::uint8_t>(image.data(), *size));
      if (frame) return frame;
    }
    ++m_dropped;  // not a frame image: other traffic on the port
  }
}

std::string UdpBus::name() const {
  return "udp:" + std::to_string(m_local_port) + ":" + std::to_string(m_remote_port);
}

}  // namespace ecuup
