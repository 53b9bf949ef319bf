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
#include <thread>

#include "transport/doip.hpp"

namespace ecuup {

using namespace doip;

namespace {

// Larger messages are discarded with a generic NACK; up to it, diagnostic messages above the
// max data size get the diagnostic NACK "message too large".
constexpr std::uint32_t k_server_min_reader_limit = 1024 * 1024;
constexpr std::uint8_t k_max_tcp_sockets = 16;
constexpr std::chrono::milliseconds k_poll_slice{200};
constexpr int k_send_timeout_s = 10;

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
  std::uint16_t bound_port = 0;
  std::thread accept_thread;
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
  addr.sin_port = htons(impl.options.port);
  if (::inet_pton(AF_INET, impl.options.bind_address.c_str(), &addr.sin_addr) != 1) {
    return make_error(Errc::config, where + ": not an IPv4 address");
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
  impl.bound_port = ntohs(addr.sin_port);
  impl.wake_fd = ::eventfd(0, EFD_CLOEXEC);
  if (impl.wake_fd < 0) {
    ::close(fd);
    return make_error(Errc::internal, where + ": eventfd: " + std::strerror(errno));
  }
  impl.listen_fd = fd;
  impl.stopping = false;
  impl.accept_thread = std::thread([&impl] { impl.accept_loop(); });
  return success();
}

void DoipServer::stop() {
  Impl& impl = *m_impl;
  if (impl.listen_fd < 0) return;
  impl.stopping = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(impl.wake_fd, &one, sizeof one);
  if (impl.accept_thread.joinable()) impl.accept_thread.join();
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
  impl.listen_fd = -1;
  impl.wake_fd = -1;
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
      case PayloadType::entity_status_request: {
        std::array<std::uint8_t, 7> response{};
        response[0] = k_node_type_gateway;
        response[1] = k_max_tcp_sockets;
        response[2] = static_cast<std::uint8_t>(std::min<int>(open_connections, 255));
        put_u32(&response[3], options.max_data_size);
        if (!reply(PayloadType::entity_status_response, response)) return;
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
        // Well-formed but not something a DoIP entity serves on TCP.
        std::array<std::uint8_t, 1> code{static_cast<std::uint8_t>(GenericNack::unknown_payload_type)};
        if (!reply(PayloadType::generic_nack, code)) return;
        break;
      }
    }
  }
}

}  // namespace ecuup
