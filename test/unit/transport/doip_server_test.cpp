#include <catch2/catch.hpp>

#include <arpa/inet.h>
// linux/tcp.h, not netinet/tcp.h: glibc's struct tcp_info stops before tcpi_data_segs_in.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "support/temp_dir.hpp"
#include "transport/doip.hpp"
#include "transport/doip_server.hpp"
#include "util/cancel.hpp"

using namespace ecuup;
using namespace ecuup::doip;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t k_ecu = 0x0010;
constexpr std::uint16_t k_other_ecu = 0x0011;
constexpr std::uint16_t k_tester = 0x0E80;

Bytes positive_echo(ByteView request) {
  Bytes out(request.begin(), request.end());
  if (!out.empty()) out[0] = static_cast<std::uint8_t>(out[0] + 0x40);
  return out;
}

struct Bench {
  explicit Bench(DoipHandler handler, DoipServerOptions options = {}) : server(make(options), std::move(handler)) {
    REQUIRE(server.start());
  }
  static DoipServerOptions make(DoipServerOptions options) {
    options.port = 0;
    if (options.ecu_addresses.empty()) options.ecu_addresses = {k_ecu, k_other_ecu};
    return options;
  }
  DoipOptions client(std::uint16_t ecu = k_ecu) const {
    DoipOptions o;
    o.port = server.port();
    o.tester_address = k_tester;
    o.ecu_address = ecu;
    o.ack_timeout = 1000ms;
    o.connect_timeout = 1000ms;
    return o;
  }
  test::TempDir dir;
  DoipServer server;
};

// A raw TCP peer speaking DoIP messages by hand, for both fake gateways and fake testers.
class RawPeer {
 public:
  explicit RawPeer(int fd) : m_fd(fd), m_reader(1 << 20) {}
  ~RawPeer() { ::close(m_fd); }
  static std::optional<RawPeer> connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return std::nullopt;
    }
    return std::optional<RawPeer>(std::in_place, fd);
  }
  RawPeer(RawPeer&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)), m_reader(std::move(other.m_reader)) {}

  // No Catch assertions here: fake gateways run on their own thread. Failures set failed().
  void send_raw(const Bytes& bytes) {
    if (::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) fail();
  }
  void send(PayloadType type, const Bytes& payload) {
    if (!send_message(m_fd, type, {}, payload)) fail();
  }
  void fail() { m_failed = true; }
  bool failed() const { return m_failed; }
  // The next message, or nullopt when the peer closed or stayed silent.
  std::optional<std::pair<std::uint16_t, Bytes>> receive(std::chrono::milliseconds timeout = 2000ms) {
    for (;;) {
      auto event = m_reader.next();
      if (event.kind == StreamReader::Event::Kind::message) {
        return std::make_pair(event.message.header.payload_type,
                              Bytes(event.message.payload.begin(), event.message.payload.end()));
      }
      if (event.kind == StreamReader::Event::Kind::bad_header) return std::nullopt;
      auto got = receive_some(m_fd, m_reader, timeout);
      if (!got) {
        m_last_error = got.error().code;
        return std::nullopt;
      }
    }
  }
  // Expects a message of `type`, returns its payload (empty and failed() when it is something else).
  Bytes expect(PayloadType type) {
    auto message = receive();
    if (!message || message->first != static_cast<std::uint16_t>(type)) {
      fail();
      return {};
    }
    return message->second;
  }
  bool closed_by_peer() {
    auto message = receive(2000ms);
    return !message && m_last_error == Errc::network;
  }
  // The tester's side of routing activation + entity status, as a gateway would answer.
  void activate_as_gateway(std::uint16_t entity, std::uint32_t max_data_size) {
    Bytes request = expect(PayloadType::routing_activation_request);
    Bytes response(9);
    put_u16(&response[0], get_u16(request.data()));
    put_u16(&response[2], entity);
    response[4] = 0x10;
    send(PayloadType::routing_activation_response, response);
    expect(PayloadType::entity_status_request);
    Bytes status(7);
    status[0] = k_node_type_gateway;
    status[1] = 1;
    status[2] = 1;
    put_u32(&status[3], max_data_size);
    send(PayloadType::entity_status_response, status);
  }
  int fd() const { return m_fd; }

 private:
  int m_fd;
  StreamReader m_reader;
  Errc m_last_error = Errc::internal;
  bool m_failed = false;
};

std::uint8_t code_of(const Bytes& response) { return response.size() > 4 ? response[4] : 0xFF; }

// A one-connection fake gateway on an ephemeral port running `script` on its own thread.
class FakeGateway {
 public:
  explicit FakeGateway(std::function<void(RawPeer&)> script) {
    m_listen = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(m_listen, 1) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len);
    m_port = ntohs(addr.sin_port);
    m_thread = std::thread([this, script = std::move(script)] {
      int fd = ::accept(m_listen, nullptr, nullptr);
      if (fd < 0) return;
      RawPeer peer(fd);
      script(peer);
      m_failed = peer.failed();
    });
  }
  ~FakeGateway() {
    finish();
    ::close(m_listen);
  }
  // Waits for the script; true when every step went as it expected.
  bool script_ok() {
    finish();
    return !m_failed;
  }
  DoipOptions client() const {
    DoipOptions o;
    o.port = m_port;
    o.tester_address = k_tester;
    o.ecu_address = k_ecu;
    o.ack_timeout = 500ms;
    return o;
  }

 private:
  int m_listen;
  std::uint16_t m_port = 0;
  std::thread m_thread;
  std::atomic<bool> m_failed{false};

  void finish() {
    if (!m_thread.joinable()) return;
    ::shutdown(m_listen, SHUT_RDWR);
    m_thread.join();
  }
};

Bytes activation_request(std::uint16_t tester, std::uint8_t type = k_activation_default) {
  Bytes payload(7);
  put_u16(&payload[0], tester);
  payload[2] = type;
  return payload;
}

Bytes diag_payload(std::uint16_t source, std::uint16_t target, const Bytes& uds) {
  Bytes payload(4);
  put_u16(&payload[0], source);
  put_u16(&payload[2], target);
  payload.insert(payload.end(), uds.begin(), uds.end());
  return payload;
}

// The test process's own TCP socket whose local port is `local_port` (found through /proc/self/fd),
// or -1: how a test reaches the client's socket without a seam in the link.
int own_socket_with_local_port(std::uint16_t local_port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 || local.sin_family != AF_INET) continue;
    if (ntohs(local.sin_port) == local_port) return fd;
  }
  return -1;
}

// Data-carrying TCP segments received on `fd` so far (pure ACKs do not count).
std::uint32_t data_segments_in(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  if (len < offsetof(tcp_info, tcpi_data_segs_in) + sizeof info.tcpi_data_segs_in) return 0;
  return info.tcpi_data_segs_in;
}

}  // namespace

TEST_CASE("DoIP client socket has TCP_NODELAY set", "[doip]") {
  // Without it, Nagle holds back each request until the gateway's delayed ACK (~40 ms per request).
  std::optional<int> nodelay;
  FakeGateway gateway([](RawPeer& peer) {
    peer.activate_as_gateway(k_ecu, 0x1004);
    peer.closed_by_peer();
  });
  DoipOptions options = gateway.client();
  // The trace factory runs once the connection stands: the moment to look at the client's socket.
  options.trace = [&](const DoipConnectionEnds& ends) -> std::unique_ptr<DoipTraceHook> {
    int fd = own_socket_with_local_port(ends.local_port);
    if (fd >= 0) {
      int value = 0;
      socklen_t len = sizeof value;
      if (::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &len) == 0) nodelay = value;
    }
    return nullptr;
  };
  auto link = connect_doip(options);
  REQUIRE(link);
  REQUIRE(nodelay.has_value());
  CHECK(*nodelay != 0);
  link->reset();
  CHECK(gateway.script_ok());
}

TEST_CASE("DoIP client writes header and payload of a message in one segment", "[doip]") {
  // A header written apart from its payload is a second segment: with Nagle it waits for an ACK,
  // and a gateway that reads the header alone sees a short message.
  Bytes uds(1000);
  for (std::size_t i = 0; i < uds.size(); ++i) uds[i] = static_cast<std::uint8_t>(0x2E + i);
  const Bytes wire = encode_message(PayloadType::diagnostic_message, diag_payload(k_tester, k_ecu, uds));
  std::promise<void> measuring;
  std::atomic<long> first_recv{-1};
  std::atomic<long> segments{-1};
  std::atomic<bool> same_bytes{false};
  FakeGateway gateway([&](RawPeer& peer) {
    peer.activate_as_gateway(k_ecu, 0x1004);
    const std::uint32_t before = data_segments_in(peer.fd());
    measuring.set_value();
    pollfd pfd{peer.fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 2000) != 1) return peer.fail();
    // Twice the size: a recv that returns exactly the message shows it arrived whole, with nothing after it.
    Bytes got(2 * wire.size());
    const ssize_t n = ::recv(peer.fd(), got.data(), got.size(), MSG_DONTWAIT);
    first_recv = n;
    segments = static_cast<long>(data_segments_in(peer.fd())) - static_cast<long>(before);
    same_bytes = n == static_cast<ssize_t>(wire.size()) && std::equal(wire.begin(), wire.end(), got.begin());
    peer.send(PayloadType::diagnostic_ack, Bytes{0x00, 0x10, 0x0E, 0x80, 0x00});
    peer.send(PayloadType::diagnostic_message, diag_payload(k_ecu, k_tester, {0x6E, 0x2F}));
    peer.closed_by_peer();
  });
  auto link = connect_doip(gateway.client());
  REQUIRE(link);
  // The gateway counts segments from here on; the client sends nothing unasked until then.
  REQUIRE(measuring.get_future().wait_for(5s) == std::future_status::ready);
  REQUIRE((*link)->send(uds));
  auto response = (*link)->receive(1000ms);
  REQUIRE(response);
  CHECK(*response == Bytes{0x6E, 0x2F});
  link->reset();
  CHECK(gateway.script_ok());
  CHECK(first_recv == static_cast<long>(wire.size()));
  CHECK(same_bytes);
  CHECK(segments == 1);
}

TEST_CASE("DoIP client exchanges UDS messages with the server", "[doip]") {
  std::atomic<std::uint16_t> seen_ecu{0};
  Bench bench([&](std::uint16_t ecu, ByteView request, DoipResponder& out) {
    seen_ecu = ecu;
    (void)out.send(positive_echo(request));
  });
  auto link = connect_doip(bench.client());
  REQUIRE(link);
  CHECK((*link)->max_message_size() == 0x10000);
  CHECK((*link)->describe().find("ECU 0x0010") != std::string::npos);

  for (int i = 0; i < 3; ++i) {
    REQUIRE((*link)->send(Bytes{0x22, 0xF1, 0x89}));
    auto response = (*link)->receive(1000ms);
    REQUIRE(response);
    CHECK(*response == Bytes{0x62, 0xF1, 0x89});
  }
  CHECK(seen_ecu == k_ecu);
}

TEST_CASE("DoIP client targets the entity itself when no ECU address is given", "[doip]") {
  std::atomic<std::uint16_t> seen_ecu{0};
  DoipServerOptions options;
  options.logical_address = k_other_ecu;
  Bench bench([&](std::uint16_t ecu, ByteView request, DoipResponder& out) {
    seen_ecu = ecu;
    (void)out.send(positive_echo(request));
  }, options);
  auto link = connect_doip(bench.client(0));
  REQUIRE(link);
  REQUIRE((*link)->send(Bytes{0x3E, 0x00}));
  auto response = (*link)->receive(1000ms);
  REQUIRE(response);
  CHECK(*response == Bytes{0x7E, 0x00});
  CHECK(seen_ecu == k_other_ecu);
}

TEST_CASE("DoIP max message size follows the entity status", "[doip]") {
  DoipServerOptions options;
  options.max_data_size = 0x1004;
  Bench bench([](std::uint16_t, ByteView request, DoipResponder& out) { (void)out.send(positive_echo(request)); },
              options);
  auto link = connect_doip(bench.client());
  REQUIRE(link);
  CHECK((*link)->max_message_size() == 0x1000);
  auto too_big = (*link)->send(Bytes(0x1001, 0x36));
  REQUIRE_FALSE(too_big);
  CHECK(too_big.error().code == Errc::protocol);
  REQUIRE((*link)->send(Bytes(0x1000, 0x36)));
  auto response = (*link)->receive(1000ms);
  REQUIRE(response);
  CHECK(response->size() == 0x1000);
}

TEST_CASE("DoIP routing activation denials are reported by name", "[doip]") {
  Bench bench([](std::uint16_t, ByteView, DoipResponder&) {});
  SECTION("unknown source address") {
    auto options = bench.client();
    options.tester_address = 0x0001;
    auto link = connect_doip(options);
    REQUIRE_FALSE(link);
    CHECK(link.error().code == Errc::protocol);
    CHECK(link.error().message.find("unknown source address (0x00)") != std::string::npos);
  }
  SECTION("unsupported activation type") {
    auto options = bench.client();
    options.activation_type = 0x42;
    auto link = connect_doip(options);
    REQUIRE_FALSE(link);
    CHECK(link.error().code == Errc::protocol);
    CHECK(link.error().message.find("unsupported routing activation type (0x06)") != std::string::npos);
  }
}

TEST_CASE("DoIP diagnostic NACK for an unknown ECU is reported by name", "[doip]") {
  std::atomic<int> calls{0};
  Bench bench([&](std::uint16_t, ByteView, DoipResponder&) { ++calls; });
  auto link = connect_doip(bench.client(0x0777));
  REQUIRE(link);
  auto sent = (*link)->send(Bytes{0x10, 0x03});
  REQUIRE_FALSE(sent);
  CHECK(sent.error().code == Errc::protocol);
  CHECK(sent.error().message.find("unknown target address (0x03)") != std::string::npos);
  CHECK(calls == 0);
}

TEST_CASE("DoIP passes responsePending chains through in order", "[doip]") {
  Bench bench([](std::uint16_t, ByteView request, DoipResponder& out) {
    Bytes pending{0x7F, request[0], 0x78};
    (void)out.send(pending);
    std::this_thread::sleep_for(20ms);
    (void)out.send(pending);
    (void)out.send(positive_echo(request));
  });
  auto link = connect_doip(bench.client());
  REQUIRE(link);
  REQUIRE((*link)->send(Bytes{0x31, 0x01, 0xFF, 0x00}));
  for (int i = 0; i < 2; ++i) {
    auto pending = (*link)->receive(1000ms);
    REQUIRE(pending);
    CHECK(*pending == Bytes{0x7F, 0x31, 0x78});
  }
  auto final_response = (*link)->receive(1000ms);
  REQUIRE(final_response);
  CHECK(*final_response == Bytes{0x71, 0x01, 0xFF, 0x00});
}

TEST_CASE("DoIP server dropping the connection mid-exchange is a network error", "[doip]") {
  // 0: the handler has not tried yet, 1: a send after the drop succeeded, 2: it failed.
  std::atomic<int> send_after_drop{0};
  Bench bench([&](std::uint16_t, ByteView request, DoipResponder& out) {
    if (request[0] == 0x11) {
      (void)out.send(Bytes{0x7F, 0x11, 0x78});
      out.drop_connection();
      send_after_drop = out.send(Bytes{0x51, 0x01}) ? 1 : 2;
      return;
    }
    (void)out.send(positive_echo(request));
  });
  auto link = connect_doip(bench.client());
  REQUIRE(link);
  REQUIRE((*link)->send(Bytes{0x11, 0x01}));
  auto pending = (*link)->receive(1000ms);
  REQUIRE(pending);
  CHECK(*pending == Bytes{0x7F, 0x11, 0x78});
  auto lost = (*link)->receive(1000ms);
  REQUIRE_FALSE(lost);
  CHECK(lost.error().code == Errc::network);
  CHECK(lost.error().message.find("closed") != std::string::npos);
  auto again = (*link)->send(Bytes{0x3E, 0x00});
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::network);
  // The client sees the close before the server thread reaches its next send: wait for it.
  for (int i = 0; i < 200 && send_after_drop == 0; ++i) std::this_thread::sleep_for(5ms);
  CHECK(send_after_drop == 2);

  // The server keeps serving new connections.
  auto second = connect_doip(bench.client());
  REQUIRE(second);
  REQUIRE((*second)->send(Bytes{0x3E, 0x00}));
  REQUIRE((*second)->receive(1000ms));
}

TEST_CASE("DoIP silent ECU is a timeout", "[doip]") {
  Bench bench([](std::uint16_t, ByteView, DoipResponder&) {});
  auto link = connect_doip(bench.client());
  REQUIRE(link);
  REQUIRE((*link)->send(Bytes{0x22, 0xF1, 0x90}));
  auto response = (*link)->receive(150ms);
  REQUIRE_FALSE(response);
  CHECK(response.error().code == Errc::timeout);
  CHECK(response.error().message.find("0x0010") != std::string::npos);
}

TEST_CASE("DoIP waits end early on an interrupt request", "[doip]") {
  Bench bench([](std::uint16_t, ByteView, DoipResponder&) {});
  auto link = connect_doip(bench.client());
  REQUIRE(link);
  REQUIRE((*link)->send(Bytes{0x22, 0xF1, 0x90}));
  request_interrupt();
  auto response = (*link)->receive(5000ms);
  clear_interrupt();
  REQUIRE_FALSE(response);
  CHECK(response.error().code == Errc::interrupted);
}

TEST_CASE("DoIP carries 64 KiB messages both ways", "[doip]") {
  Bytes block(0x10000);
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<std::uint8_t>(i * 7 + i / 256);
  Bench bench([](std::uint16_t, ByteView request, DoipResponder& out) { (void)out.send(request); });
  auto link = connect_doip(bench.client());
  REQUIRE(link);
  for (int i = 0; i < 4; ++i) {
    REQUIRE((*link)->send(block));
    auto echoed = (*link)->receive(2000ms);
    REQUIRE(echoed);
    CHECK(*echoed == block);
  }
}

TEST_CASE("DoIP client answers the gateway's alive check while waiting", "[doip]") {
  std::atomic<bool> answered{false};
  FakeGateway gateway([&](RawPeer& peer) {
    peer.activate_as_gateway(k_ecu, 0x1004);
    Bytes request = peer.expect(PayloadType::diagnostic_message);
    if (request != diag_payload(k_tester, k_ecu, {0x22, 0xF1, 0x89})) peer.fail();
    peer.send(PayloadType::diagnostic_ack, Bytes{0x00, 0x10, 0x0E, 0x80, 0x00});
    peer.send(PayloadType::alive_check_request, {});
    Bytes alive = peer.expect(PayloadType::alive_check_response);
    answered = alive == Bytes{0x0E, 0x80};
    peer.send(PayloadType::diagnostic_message, diag_payload(k_ecu, k_tester, {0x62, 0xF1, 0x89, 0x01}));
    peer.closed_by_peer();
  });
  auto link = connect_doip(gateway.client());
  REQUIRE(link);
  CHECK((*link)->max_message_size() == 0x1000);
  REQUIRE((*link)->send(Bytes{0x22, 0xF1, 0x89}));
  auto response = (*link)->receive(1000ms);
  REQUIRE(response);
  CHECK(*response == Bytes{0x62, 0xF1, 0x89, 0x01});
  CHECK(answered);
  link->reset();
  CHECK(gateway.script_ok());
}

TEST_CASE("DoIP client: gateway failures", "[doip]") {
  SECTION("no acknowledgement is a timeout") {
    FakeGateway gateway([](RawPeer& peer) {
      peer.activate_as_gateway(k_ecu, 0x1004);
      peer.expect(PayloadType::diagnostic_message);
      peer.closed_by_peer();
    });
    auto link = connect_doip(gateway.client());
    REQUIRE(link);
    auto sent = (*link)->send(Bytes{0x10, 0x02});
    REQUIRE_FALSE(sent);
    CHECK(sent.error().code == Errc::timeout);
    link->reset();
    CHECK(gateway.script_ok());
  }
  SECTION("no routing activation response is a timeout") {
    FakeGateway gateway([](RawPeer& peer) {
      peer.expect(PayloadType::routing_activation_request);
      peer.closed_by_peer();
    });
    auto link = connect_doip(gateway.client());
    REQUIRE_FALSE(link);
    CHECK(link.error().code == Errc::timeout);
    CHECK(gateway.script_ok());
  }
  SECTION("a gateway closing during activation is a network error") {
    FakeGateway gateway([](RawPeer& peer) { peer.expect(PayloadType::routing_activation_request); });
    auto link = connect_doip(gateway.client());
    REQUIRE_FALSE(link);
    CHECK(link.error().code == Errc::network);
    CHECK(gateway.script_ok());
  }
  SECTION("a bad header from the gateway is NACKed and ends the link") {
    std::optional<Bytes> nack;
    {
      FakeGateway gateway([&](RawPeer& peer) {
        peer.activate_as_gateway(k_ecu, 0x1004);
        peer.expect(PayloadType::diagnostic_message);
        peer.send_raw(Bytes{0x02, 0x02, 0x80, 0x02, 0x00, 0x00, 0x00, 0x05, 0x00, 0x10, 0x0E, 0x80, 0x00});
        auto reply = peer.receive();
        if (reply && reply->first == 0x0000) nack = reply->second;
      });
      auto link = connect_doip(gateway.client());
      REQUIRE(link);
      auto sent = (*link)->send(Bytes{0x10, 0x02});
      REQUIRE_FALSE(sent);
      CHECK(sent.error().code == Errc::protocol);
      CHECK(sent.error().message.find("incorrect pattern format (0x00)") != std::string::npos);
      link->reset();
      CHECK(gateway.script_ok());
    }
    CHECK(nack == Bytes{0x00});
  }
  SECTION("entity status without max data size gives the default") {
    FakeGateway gateway([](RawPeer& peer) {
      Bytes request = peer.expect(PayloadType::routing_activation_request);
      peer.send(PayloadType::routing_activation_response, Bytes{0x0E, 0x80, 0x00, 0x10, 0x10, 0, 0, 0, 0});
      peer.expect(PayloadType::entity_status_request);
      peer.send(PayloadType::generic_nack, Bytes{0x01});
      peer.closed_by_peer();
    });
    auto link = connect_doip(gateway.client());
    REQUIRE(link);
    CHECK((*link)->max_message_size() == 4095);
    link->reset();
    CHECK(gateway.script_ok());
  }
}

TEST_CASE("DoIP connect to a closed port is a network error", "[doip]") {
  std::uint16_t port = 0;
  {
    Bench bench([](std::uint16_t, ByteView, DoipResponder&) {});
    port = bench.server.port();
  }
  DoipOptions options;
  options.port = port;
  auto link = connect_doip(options);
  REQUIRE_FALSE(link);
  CHECK(link.error().code == Errc::network);
}

TEST_CASE("DoIP server handles bad input like an entity should", "[doip]") {
  Bench bench([](std::uint16_t, ByteView request, DoipResponder& out) { (void)out.send(positive_echo(request)); });

  SECTION("incorrect pattern: NACK 0x00, then the socket closes") {
    auto peer = RawPeer::connect_to(bench.server.port());
    REQUIRE(peer);
    peer->send_raw(Bytes{0x02, 0xFE, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00});
    CHECK(peer->expect(PayloadType::generic_nack) == Bytes{0x00});
    CHECK(peer->closed_by_peer());
  }
  SECTION("unknown payload type: NACK 0x01, the connection goes on") {
    auto peer = RawPeer::connect_to(bench.server.port());
    REQUIRE(peer);
    peer->send_raw(Bytes{0x02, 0xFD, 0x12, 0x34, 0x00, 0x00, 0x00, 0x02, 0xAA, 0xBB});
    CHECK(peer->expect(PayloadType::generic_nack) == Bytes{0x01});
    peer->send(PayloadType::alive_check_request, {});
    CHECK(peer->expect(PayloadType::alive_check_response) == Bytes{0x00, 0x10});
  }
  SECTION("invalid payload length: NACK 0x04, then the socket closes") {
    auto peer = RawPeer::connect_to(bench.server.port());
    REQUIRE(peer);
    peer->send_raw(Bytes{0x02, 0xFD, 0x00, 0x05, 0x00, 0x00, 0x00, 0x02, 0x0E, 0x00});
    CHECK(peer->expect(PayloadType::generic_nack) == Bytes{0x04});
    CHECK(peer->closed_by_peer());
  }
  SECTION("diagnostic message before routing activation: NACK 0x02, then the socket closes") {
    auto peer = RawPeer::connect_to(bench.server.port());
    REQUIRE(peer);
    peer->send(PayloadType::diagnostic_message, diag_payload(k_tester, k_ecu, {0x3E, 0x00}));
    CHECK(peer->expect(PayloadType::diagnostic_nack) == Bytes{0x00, 0x10, 0x0E, 0x80, 0x02});
    CHECK(peer->closed_by_peer());
  }
  SECTION("a second tester address on one socket is denied with 0x02") {
    auto peer = RawPeer::connect_to(bench.server.port());
    REQUIRE(peer);
    peer->send(PayloadType::routing_activation_request, activation_request(k_tester));
    CHECK(code_of(peer->expect(PayloadType::routing_activation_response)) == 0x10);
    peer->send(PayloadType::routing_activation_request, activation_request(0x0E81));
    CHECK(code_of(peer->expect(PayloadType::routing_activation_response)) == 0x02);
    CHECK(peer->closed_by_peer());
  }
  SECTION("entity status is a UDP message: on TCP it gets NACK 0x01, the connection goes on") {
    auto peer = RawPeer::connect_to(bench.server.port());
    REQUIRE(peer);
    peer->send(PayloadType::entity_status_request, {});
    CHECK(peer->expect(PayloadType::generic_nack) == Bytes{0x01});
    peer->send(PayloadType::alive_check_request, {});
    CHECK(peer->expect(PayloadType::alive_check_response) == Bytes{0x00, 0x10});
  }
  SECTION("oversize diagnostic message: NACK 0x04, the connection goes on") {
    auto peer = RawPeer::connect_to(bench.server.port());
    REQUIRE(peer);
    peer->send(PayloadType::routing_activation_request, activation_request(k_tester));
    CHECK(code_of(peer->expect(PayloadType::routing_activation_response)) == 0x10);
    peer->send(PayloadType::diagnostic_message, diag_payload(k_tester, k_ecu, Bytes(0x10001, 0x36)));
    CHECK(peer->expect(PayloadType::diagnostic_nack) == Bytes{0x00, 0x10, 0x0E, 0x80, 0x04});
    peer->send(PayloadType::diagnostic_message, diag_payload(k_tester, k_ecu, {0x3E, 0x00}));
    CHECK(peer->expect(PayloadType::diagnostic_ack) == Bytes{0x00, 0x10, 0x0E, 0x80, 0x00});
    CHECK(peer->expect(PayloadType::diagnostic_message) == diag_payload(k_ecu, k_tester, {0x7E, 0x00}));
  }
}

TEST_CASE("DoIP server stops with connections open", "[doip]") {
  auto server = std::make_unique<DoipServer>(
      DoipServerOptions{"127.0.0.1", 0, {k_ecu}, 0x10004, 0, {}, {}, {}, doip::k_power_mode_ready},
      [](std::uint16_t, ByteView request, DoipResponder& out) { (void)out.send(positive_echo(request)); });
  REQUIRE(server->start());
  DoipOptions options;
  options.port = server->port();
  options.ecu_address = k_ecu;
  auto link = connect_doip(options);
  REQUIRE(link);
  server->stop();
  server.reset();
  auto sent = (*link)->send(Bytes{0x3E, 0x00});
  REQUIRE_FALSE(sent);
  CHECK((sent.error().code == Errc::network || sent.error().code == Errc::timeout));
}

// Hidden (run with "[doip-bench]"): prints TransferData-like throughput over loopback.
TEST_CASE("DoIP loopback throughput with 64 KiB blocks", "[.][doip-bench]") {
  Bench bench([](std::uint16_t, ByteView request, DoipResponder& out) {
    (void)out.send(Bytes{static_cast<std::uint8_t>(request[0] + 0x40), request[1]});
  });
  auto link = connect_doip(bench.client());
  REQUIRE(link);
  Bytes block(0x10000, 0x5A);
  block[0] = 0x36;
  constexpr int k_blocks = 2000;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < k_blocks; ++i) {
    block[1] = static_cast<std::uint8_t>(i + 1);
    REQUIRE((*link)->send(block));
    REQUIRE((*link)->receive(2000ms));
  }
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  double mb = k_blocks * double(block.size()) / 1e6;
  WARN("DoIP: " << k_blocks << " blocks of 64 KiB in " << took.count() << " s = " << mb / took.count() << " MB/s");
}
