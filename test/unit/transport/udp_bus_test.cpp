#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <linux/can.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include "transport/bus.hpp"
#include "transport/isotp.hpp"
#include "transport/udp_bus.hpp"

using namespace ecuup;
using namespace std::chrono_literals;

namespace {

// A plain UDP socket on 127.0.0.1 standing in for another tool on the bus.
class RawPeer {
 public:
  RawPeer() {
    m_fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len);
    m_port = ntohs(addr.sin_port);
  }
  ~RawPeer() { ::close(m_fd); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;
  std::uint16_t port() const { return m_port; }

  std::vector<std::uint8_t> receive() {
    pollfd pfd{m_fd, POLLIN, 0};
    REQUIRE(::poll(&pfd, 1, 2000) == 1);
    std::vector<std::uint8_t> buf(256);
    const ssize_t n = ::recv(m_fd, buf.data(), buf.size(), 0);
    REQUIRE(n >= 0);
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
  void send_to(std::uint16_t port, const void* data, std::size_t size) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::sendto(m_fd, data, size, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) == static_cast<ssize_t>(size));
  }

 private:
  int m_fd = -1;
  std::uint16_t m_port = 0;
};

CanFrame frame_of(std::uint32_t id, std::vector<std::uint8_t> bytes, bool fd = false, bool extended = false) {
  CanFrame f;
  f.id = id;
  f.extended = extended;
  f.fd = fd;
  f.brs = fd;
  f.len = static_cast<std::uint8_t>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), f.data.begin());
  return f;
}

}  // namespace

TEST_CASE("udp bus sends byte-exact can_frame and canfd_frame datagrams", "[transport][udp_bus]") {
  RawPeer peer;
  auto bus = UdpBus::open(0, peer.port());
  REQUIRE(bus.ok());

  REQUIRE((*bus)->send(frame_of(0x7E0, {0x02, 0x10, 0x03})).ok());
  auto datagram = peer.receive();
  can_frame classic{};
  classic.can_id = 0x7E0;
  classic.len = 3;
  classic.data[0] = 0x02;
  classic.data[1] = 0x10;
  classic.data[2] = 0x03;
  REQUIRE(datagram.size() == sizeof classic);
  CHECK(std::memcmp(datagram.data(), &classic, sizeof classic) == 0);

  std::vector<std::uint8_t> data(48);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(0xA0 + i);
  REQUIRE((*bus)->send(frame_of(0x18DA10F1, data, true, true)).ok());
  datagram = peer.receive();
  canfd_frame fd{};
  fd.can_id = 0x18DA10F1 | CAN_EFF_FLAG;
  fd.len = 48;
  fd.flags = CANFD_BRS | CANFD_FDF;
  std::memcpy(fd.data, data.data(), data.size());
  REQUIRE(datagram.size() == sizeof fd);
  CHECK(std::memcmp(datagram.data(), &fd, sizeof fd) == 0);
}

TEST_CASE("udp bus receives frame images from other tools and skips garbage", "[transport][udp_bus]") {
  RawPeer peer;
  auto bus = UdpBus::open(0, peer.port());
  REQUIRE(bus.ok());
  const std::uint16_t port = (*bus)->local_port();
  REQUIRE(port != 0);

  const char garbage[5] = {1, 2, 3, 4, 5};
  peer.send_to(port, garbage, sizeof garbage);
  can_frame error_frame{};
  error_frame.can_id = CAN_ERR_FLAG | 0x4;
  peer.send_to(port, &error_frame, sizeof error_frame);
  can_frame classic{};
  classic.can_id = 0x7E8;
  classic.len = 8;
  for (int i = 0; i < 8; ++i) classic.data[i] = static_cast<std::uint8_t>(i);
  peer.send_to(port, &classic, sizeof classic);
  canfd_frame fd{};
  fd.can_id = 0x123;
  fd.len = 64;
  fd.flags = CANFD_BRS;  // older kernels leave CANFD_FDF out
  fd.data[63] = 0x77;
  peer.send_to(port, &fd, sizeof fd);

  auto first = (*bus)->receive(2s);
  REQUIRE(first.ok());
  CHECK(first->id == 0x7E8);
  CHECK_FALSE(first->extended);
  CHECK_FALSE(first->fd);
  CHECK(first->len == 8);
  CHECK(first->data[7] == 7);
  auto second = (*bus)->receive(2s);
  REQUIRE(second.ok());
  CHECK(second->fd);
  CHECK(second->brs);
  CHECK(second->len == 64);
  CHECK(second->data[63] == 0x77);
  CHECK((*bus)->dropped_datagrams() == 2);

  auto none = (*bus)->receive(5ms);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == Errc::timeout);
}

TEST_CASE("udp bus: a port in use is an io error, a peer that is not there is not", "[transport][udp_bus]") {
  RawPeer peer;
  auto taken = UdpBus::open(peer.port(), 9);
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.error().code == Errc::io);

  auto bus = UdpBus::open(0, 9);  // discard port: nobody listens
  REQUIRE(bus.ok());
  for (int i = 0; i < 3; ++i) CHECK((*bus)->send(frame_of(0x7DF, {0x02, 0x3E, 0x80})).ok());
}

TEST_CASE("ISO-TP over two udp buses on loopback", "[transport][udp_bus][isotp]") {
  // A binds a free port first; B then binds another and points at A.
  auto udp_a = UdpBus::open(0, 9);
  REQUIRE(udp_a.ok());
  const std::uint16_t port_a = (*udp_a)->local_port();
  udp_a = make_error(Errc::internal, "released");
  std::uint16_t port_b = 0;
  {
    RawPeer probe;
    port_b = probe.port();
  }
  auto a = open_frame_bus("udp:" + std::to_string(port_a) + ":" + std::to_string(port_b));
  auto b = open_frame_bus("udp:" + std::to_string(port_b) + ":" + std::to_string(port_a));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  IsoTpOptions tester;
  tester.tx_id = 0x7E0;
  tester.rx_id = 0x7E8;
  tester.fd = true;
  tester.tx_dl = 64;
  IsoTpOptions ecu = tester;
  std::swap(ecu.tx_id, ecu.rx_id);
  auto sender = make_isotp_link(*a, tester);
  auto receiver = make_isotp_link(*b, ecu);
  REQUIRE(sender.ok());
  REQUIRE(receiver.ok());
  Bytes message(5000);
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<std::uint8_t>(i ^ (i >> 8));
  Result<void> sent = success();
  std::thread thread([&] { sent = (*sender)->send(message); });
  auto got = (*receiver)->receive(2s);
  thread.join();
  REQUIRE(sent.ok());
  REQUIRE(got.ok());
  CHECK(*got == message);
}
