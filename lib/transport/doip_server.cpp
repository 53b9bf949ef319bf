#include "transport/doip_server.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "transport/doip.hpp"
#include "transport/doip_discovery.hpp"

namespace ecuup {

using namespace doip;

namespace {

// Larger messages are discarded with a generic NACK; up to it, diagnostic messages above the
// max data size get the diagnostic NACK "message too large".
constexpr std::uint32_t k_server_min_reader_limit = 1024 * 1024;
constexpr std::uint8_t k_max_tcp_sockets = 16;
constexpr std::chrono::milliseconds k_poll_slice{200};
constexpr int k_send_timeout_s = 10;
// An ephemeral TCP port whose number is taken on UDP: try another this many times.
constexpr int k_bind_attempts = 8;
constexpr std::size_t k_max_udp_datagram = 1500;

bool is_loopback(const in_addr& address) { return (ntohl(address.s_addr) >> 24) == 127; }

// A UDP socket bound to `address`:`port`, or -1.
int bind_udp(in_addr address, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr = address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Connection {
  std::mutex mutex;
  int fd = -1;  // guarded by mutex; -1 once the connection thread closed it
  std::thread thread;
  std::atomic<bool> done{false};
};

}  // namespace

struct DoipServer::Impl {
  DoipServerOptions options;
  DoipHandler handler;
  int listen_fd = -1;
  int wake_fd = -1;
  int udp_fd = -1;
  int udp_broadcast_fd = -1;  // loopback binds: the datagrams sent to 127.255.255.255
  std::uint16_t bound_port = 0;
  std::thread accept_thread;
  std::thread udp_thread;
  std::atomic<bool> stopping{false};
  std::mutex connections_mutex;
  std::list<Connection> connections;
  std::atomic<int> open_connections{0};

  std::uint16_t entity_address() const {
    if (options.logical_address != 0) return options.logical_address;
    return options.ecu_addresses.empty() ? 0 : options.ecu_addresses.front();
  }
  bool tester_allowed(std::uint16_t address) const {
    if (options.tester_addresses.empty()) {
      return address >= k_tester_address_min && address <= k_tester_address_max;
    }
    return std::find(options.tester_addresses.begin(), options.tester_addresses.end(), address) !=
           options.tester_addresses.end();
  }
  bool ecu_known(std::uint16_t address) const {
    return std::find(options.ecu_addresses.begin(), options.ecu_addresses.end(), address) !=
           options.ecu_addresses.end();
  }

  void accept_loop();
  void serve(int fd);
  void udp_loop();
  // The answer to one UDP datagram (empty: none).
  Bytes udp_answer(ByteView datagram) const;
  doip::VehicleAnnouncement announcement() const {
    auto a = options.identity;
    if (a.logical_address == 0) a.logical_address = entity_address();
    return a;
  }
  void reap_finished();
};

namespace {

class ConnectionResponder final : public DoipResponder {
 public:
  explicit ConnectionResponder(int fd) : m_fd(fd) {}
  void address(std::uint16_t ecu, std::uint16_t tester) {
    m_ecu = ecu;
    m_tester = tester;
  }
  Result<void> send(ByteView uds_response) override {
    if (m_dropped) return make_error(Errc::network, "DoIP connection was dropped");
    std::array<std::uint8_t, k_diag_address_bytes> addresses{};
    put_u16(&addresses[0], m_ecu);
    put_u16(&addresses[2], m_tester);
    return send_message(m_fd, PayloadType::diagnostic_message, addresses, uds_response);
  }
  void drop_connection() override {
    m_dropped = true;
    ::shutdown(m_fd, SHUT_RDWR);
  }
  bool dropped() const { return m_dropped; }

 private:
  int m_fd;
  std::uint16_t m_ecu = 0;
  std::uint16_t m_tester = 0;
  bool m_dropped = false;
};

}  // namespace

DoipServer::DoipServer(DoipServerOptions options, DoipHandler handler) : m_impl(std::make_unique<Impl>()) {
  m_impl->options = std::move(options);
  m_impl->handler = std::move(handler);
}

DoipServer::~DoipServer() { stop(); }

std::uint16_t DoipServer::port() const { return m_impl->bound_port; }

Result<void> DoipServer::start() {
  Impl& impl = *m_impl;
  if (impl.listen_fd >= 0) return make_error(Errc::internal, "DoIP server already started");
  auto where = fmt::format("DoIP server {}:{}", impl.options.bind_address, impl.options.port);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (::inet_pton(AF_INET, impl.options.bind_address.c_str(), &addr.sin_addr) != 1) {
    return make_error(Errc::config, where + ": not an IPv4 address");
  }
  int fd = -1;
  int udp = -1;
  for (int attempt = 0; attempt < k_bind_attempts && udp < 0; ++attempt) {
    addr.sin_port = htons(impl.options.port);
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(Errc::network, where + ": socket: " + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(fd, 16) < 0) {
      int err = errno;
      ::close(fd);
      return make_error(Errc::network, where + ": " + std::strerror(err));
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    // ISO 13400-2: the entity's UDP port for discovery and status is its TCP port's number.
    udp = bind_udp(addr.sin_addr, ntohs(addr.sin_port));
    if (udp < 0) {
      int err = errno;
      ::close(fd);
      if (impl.options.port != 0) return make_error(Errc::network, where + ": UDP: " + std::strerror(err));
    }
  }
  if (udp < 0) return make_error(Errc::network, where + ": no free port for both TCP and UDP");
  impl.bound_port = ntohs(addr.sin_port);
  if (is_loopback(addr.sin_addr)) {
    in_addr broadcast{};
    broadcast.s_addr = htonl(0x7FFFFFFF);  // 127.255.255.255, loopback's broadcast address
    impl.udp_broadcast_fd = bind_udp(broadcast, impl.bound_port);
  }
  impl.wake_fd = ::eventfd(0, EFD_CLOEXEC);
  if (impl.wake_fd < 0) {
    ::close(fd);
    ::close(udp);
    if (impl.udp_broadcast_fd >= 0) ::close(impl.udp_broadcast_fd);
    impl.udp_broadcast_fd = -1;
    return make_error(Errc::internal, where + ": eventfd: " + std::strerror(errno));
  }
  impl.listen_fd = fd;
  impl.udp_fd = udp;
  impl.stopping = false;
  impl.accept_thread = std::thread([&impl] { impl.accept_loop(); });
  impl.udp_thread = std::thread([&impl] { impl.udp_loop(); });
  return success();
}

void DoipServer::stop() {
  Impl& impl = *m_impl;
  if (impl.listen_fd < 0) return;
  impl.stopping = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(impl.wake_fd, &one, sizeof one);
  if (impl.accept_thread.joinable()) impl.accept_thread.join();
  if (impl.udp_thread.joinable()) impl.udp_thread.join();
  {
    std::lock_guard<std::mutex> lock(impl.connections_mutex);
    for (auto& connection : impl.connections) {
      std::lock_guard<std::mutex> fd_lock(connection.mutex);
      if (connection.fd >= 0) ::shutdown(connection.fd, SHUT_RDWR);
    }
  }
  for (auto& connection : impl.connections) {
    if (connection.thread.joinable()) connection.thread.join();
  }
  impl.connections.clear();
  ::close(impl.listen_fd);
  ::close(impl.wake_fd);
  ::close(impl.udp_fd);
  if (impl.udp_broadcast_fd >= 0) ::close(impl.udp_broadcast_fd);
  impl.listen_fd = -1;
  impl.wake_fd = -1;
  impl.udp_fd = -1;
  impl.udp_broadcast_fd = -1;
}

Bytes DoipServer::Impl::udp_answer(ByteView datagram) const {
  auto nack = [](GenericNack code) {
    const std::array<std::uint8_t, 1> payload{static_cast<std::uint8_t>(code)};
    return encode_datagram(static_cast<std::uint16_t>(PayloadType::generic_nack), payload);
  };
  if (datagram.size() < k_header_size) return nack(GenericNack::incorrect_pattern);
  Header h = decode_header(std::span<const std::uint8_t, k_header_size>(datagram.data(), k_header_size));
  const auto type = static_cast<PayloadType>(h.payload_type);
  const bool identification = type == PayloadType::vehicle_identification_request ||
                              type == PayloadType::vehicle_identification_request_eid ||
                              type == PayloadType::vehicle_identification_request_vin;
  // Identification requests may carry the default version 0xFF instead of a real one.
  Header checked = h;
  if (identification && h.version == k_identification_default_version && h.inverse_version == 0x00) {
    checked.version = k_protocol_version;
    checked.inverse_version = static_cast<std::uint8_t>(~k_protocol_version);
  }
  if (auto problem = check_header(checked, k_max_udp_datagram)) return nack(problem->code);
  if (h.payload_length != datagram.size() - k_header_size) return nack(GenericNack::invalid_payload_length);
  const ByteView payload = datagram.subspan(k_header_size);
  const auto identity = announcement();
  switch (type) {
    case PayloadType::vehicle_identification_request: break;
    case PayloadType::vehicle_identification_request_eid:
      if (!std::equal(payload.begin(), payload.end(), identity.eid.begin())) return {};
      break;
    case PayloadType::vehicle_identification_request_vin:
      if (!std::equal(payload.begin(), payload.end(), identity.vin.begin())) return {};
      break;
    case PayloadType::entity_status_request: {
      EntityStatus status;
      status.node_type = k_node_type_gateway;
      status.max_sockets = k_max_tcp_sockets;
      status.open_sockets = static_cast<std::uint8_t>(std::min<int>(open_connections, 255));
      status.max_data_size = options.max_data_size;
      return encode_datagram(static_cast<std::uint16_t>(PayloadType::entity_status_response), encode_entity_status(status));
    }
    case PayloadType::power_mode_request: {
      const std::array<std::uint8_t, 1> mode{options.power_mode};
      return encode_datagram(static_cast<std::uint16_t>(PayloadType::power_mode_response), mode);
    }
    // Answers (another entity's announcement, a NACK) are not questions: answering them could
    // start two entities NACKing each other forever.
    case PayloadType::generic_nack:
    case PayloadType::vehicle_announcement:
    case PayloadType::entity_status_response:
    case PayloadType::power_mode_response: return {};
    default: return nack(GenericNack::unknown_payload_type);  // TCP's messages
  }
  return encode_datagram(static_cast<std::uint16_t>(PayloadType::vehicle_announcement), encode_announcement(identity));
}

void DoipServer::Impl::udp_loop() {
  using Clock = std::chrono::steady_clock;
  // A_DoIP_Announce_Wait: a random pause before the first announcement, so that entities starting
  // together do not all announce at once; then A_DoIP_Announce_Interval between them.
  std::optional<sockaddr_in> announce_to;
  if (!options.announce_to.host.empty()) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(options.announce_to.port);
    if (::inet_pton(AF_INET, options.announce_to.host.c_str(), &to.sin_addr) == 1) announce_to = to;
  }
  std::minstd_rand rng(std::random_device{}());
  auto next_announce = Clock::now() + std::chrono::milliseconds(rng() % (k_announce_wait_max.count() + 1));
  int announcements_left = announce_to ? k_announce_count : 0;

  std::array<pollfd, 3> fds{pollfd{wake_fd, POLLIN, 0}, pollfd{udp_fd, POLLIN, 0}, pollfd{udp_broadcast_fd, POLLIN, 0}};
  const nfds_t count = udp_broadcast_fd >= 0 ? 3 : 2;
  std::array<std::uint8_t, k_max_udp_datagram> buffer{};
  while (!stopping) {
    int timeout_ms = -1;
    if (announcements_left > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_announce - Clock::now()).count();
      timeout_ms = static_cast<int>(std::max<std::int64_t>(0, left));
    }
    int ready = ::poll(fds.data(), count, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || stopping || (fds[0].revents & POLLIN)) break;
    if (announcements_left > 0 && Clock::now() >= next_announce) {
      const Bytes message = encode_datagram(static_cast<std::uint16_t>(PayloadType::vehicle_announcement),
                                            encode_announcement(announcement()));
      (void)::sendto(udp_fd, message.data(), message.size(), 0, reinterpret_cast<const sockaddr*>(&*announce_to),
                     sizeof *announce_to);
      --announcements_left;
      next_announce += k_announce_interval;
    }
    for (nfds_t i = 1; i < count; ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      sockaddr_in from{};
      socklen_t from_len = sizeof from;
      ssize_t got = ::recvfrom(fds[i].fd, buffer.data(), buffer.size(), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &from_len);
      if (got < 0) continue;
      const Bytes answer = udp_answer(ByteView(buffer.data(), static_cast<std::size_t>(got)));
      // Answers go from the entity's own address and port, whichever socket the request came in on.
      if (!answer.empty())
        (void)::sendto(udp_fd, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
    }
  }
}

void DoipServer::Impl::reap_finished() {
  std::lock_guard<std::mutex> lock(connections_mutex);
  for (auto it = connections.begin(); it != connections.end();) {
    if (it->done) {
      if (it->thread.joinable()) it->thread.join();
      it = connections.erase(it);
    } else {
      ++it;
    }
  }
}

void DoipServer::Impl::accept_loop() {
  std::array<pollfd, 2> fds{pollfd{listen_fd, POLLIN, 0}, pollfd{wake_fd, POLLIN, 0}};
  while (!stopping) {
    int ready = ::poll(fds.data(), fds.size(), -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || stopping || (fds[1].revents & POLLIN)) break;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    // Without TCP_NODELAY each response waits for the tester's delayed ACK (~40 ms).
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{};
    tv.tv_sec = k_send_timeout_s;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    reap_finished();
    std::lock_guard<std::mutex> lock(connections_mutex);
    Connection& connection = connections.emplace_back();
    connection.fd = fd;
    ++open_connections;
    connection.thread = std::thread([this, &connection, fd] {
      serve(fd);
      {
        std::lock_guard<std::mutex> fd_lock(connection.mutex);
        ::close(connection.fd);
        connection.fd = -1;
      }
      --open_connections;
      connection.done = true;
    });
  }
}

void DoipServer::Impl::serve(int fd) {
  StreamReader reader(std::max(options.max_data_size, k_server_min_reader_limit));
  ConnectionResponder responder(fd);
  std::optional<std::uint16_t> active_tester;

  auto reply = [fd](PayloadType type, ByteView payload) { return send_message(fd, type, payload).ok(); };
  auto diag_ack = [&](PayloadType type, std::uint16_t target, std::uint16_t source, std::uint8_t code) {
    std::array<std::uint8_t, k_diag_address_bytes + 1> payload{};
    put_u16(&payload[0], target);
    put_u16(&payload[2], source);
    payload[4] = code;
    return reply(type, payload);
  };

  while (!stopping && !responder.dropped()) {
    auto event = reader.next();
    if (event.kind == StreamReader::Event::Kind::bad_header) {
      std::array<std::uint8_t, 1> code{static_cast<std::uint8_t>(event.problem.code)};
      bool sent = reply(PayloadType::generic_nack, code);
      if (!sent || event.problem.action == NackAction::close_socket) return;
      continue;
    }
    if (event.kind == StreamReader::Event::Kind::need_more) {
      auto got = receive_some(fd, reader, k_poll_slice);
      if (!got && got.error().code != Errc::timeout) return;
      continue;
    }
    const auto& message = event.message;
    const std::uint8_t* p = message.payload.data();
    switch (message.type()) {
      case PayloadType::routing_activation_request: {
        std::uint16_t source = get_u16(p);
        std::uint8_t type = p[2];
        auto code = RoutingActivationCode::success;
        if (type != k_activation_default && type != k_activation_wwh_obd) {
          code = RoutingActivationCode::denied_unsupported_type;
        } else if (!tester_allowed(source)) {
          code = RoutingActivationCode::denied_unknown_source;
        } else if (active_tester && *active_tester != source) {
          code = RoutingActivationCode::denied_source_differs;
        }
        std::array<std::uint8_t, 9> response{};
        put_u16(&response[0], source);
        put_u16(&response[2], entity_address());
        response[4] = static_cast<std::uint8_t>(code);
        if (!reply(PayloadType::routing_activation_response, response)) return;
        // ISO 13400-2: a denied routing activation closes the socket.
        if (code != RoutingActivationCode::success) return;
        active_tester = source;
        break;
      }
      case PayloadType::alive_check_request: {
        std::array<std::uint8_t, k_address_size> response{};
        put_u16(response.data(), entity_address());
        if (!reply(PayloadType::alive_check_response, response)) return;
        break;
      }
      case PayloadType::alive_check_response: break;
      case PayloadType::diagnostic_message: {
        std::uint16_t source = get_u16(p);
        std::uint16_t target = get_u16(p + 2);
        if (!active_tester || *active_tester != source) {
          // A diagnostic message before routing activation, or from another source, closes the socket.
          diag_ack(PayloadType::diagnostic_nack, target, source,
                   static_cast<std::uint8_t>(DiagNackCode::invalid_source_address));
          return;
        }
        if (!ecu_known(target)) {
          if (!diag_ack(PayloadType::diagnostic_nack, target, source,
                        static_cast<std::uint8_t>(DiagNackCode::unknown_target_address))) {
            return;
          }
          break;
        }
        if (message.payload.size() > options.max_data_size) {
          if (!diag_ack(PayloadType::diagnostic_nack, target, source,
                        static_cast<std::uint8_t>(DiagNackCode::message_too_large))) {
            return;
          }
          break;
        }
        if (!diag_ack(PayloadType::diagnostic_ack, target, source, k_diag_ack_code)) return;
        responder.address(target, source);
        if (handler) handler(target, message.payload.subspan(k_diag_address_bytes), responder);
        break;
      }
      default: {
        // Well-formed but not something a DoIP entity serves on TCP: entity status, power mode and
        // vehicle identification are UDP messages (ISO 13400-2).
        std::array<std::uint8_t, 1> code{static_cast<std::uint8_t>(GenericNack::unknown_payload_type)};
        if (!reply(PayloadType::generic_nack, code)) return;
        break;
      }
    }
  }
}

}  // namespace ecuup
