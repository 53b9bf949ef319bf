#include "transport/udp_bus.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
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

timespec to_timespec(std::chrono::microseconds timeout) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000) * 1000;
  return ts;
}

}  // namespace

UdpBus::UdpBus(int fd, std::uint16_t local_port, std::uint16_t remote_port)
    : m_fd(fd), m_local_port(local_port), m_remote_port(remote_port) {}

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
    // Try first: in a stream of frames the next one is usually queued, and poll would be a second syscall.
    ssize_t n = ::recv(m_fd, image.data(), image.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return make_error(Errc::timeout, name() + ": no frame received");
      pollfd pfd{m_fd, POLLIN, 0};
      const timespec ts = to_timespec(left);
      const int ready = ::ppoll(&pfd, 1, &ts, nullptr);
      if (ready < 0 && errno != EINTR) return make_error(Errc::io, name() + ": poll: " + errno_text());
      continue;
    }
    if (n < 0) {
      if (errno == EINTR || errno == ECONNREFUSED) continue;
      return make_error(Errc::io, name() + ": receive: " + errno_text());
    }
    if (static_cast<std::size_t>(n) <= image.size()) {
      auto frame = decode_frame_image(std::span<const std::uint8_t>(image.data(), static_cast<std::size_t>(n)));
      if (frame) return frame;
    }
    ++m_dropped;
  }
}

std::string UdpBus::name() const {
  return "udp:" + std::to_string(m_local_port) + ":" + std::to_string(m_remote_port);
}

}  // namespace ecuup
