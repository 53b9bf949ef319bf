#include "transport/doip.hpp"

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <mutex>
#include <set>

#include "transport/doip_discovery.hpp"
#include "transport/pcapng.hpp"
#include "util/diag_log.hpp"
#include "util/cancel.hpp"

namespace ecuup {
namespace doip {

namespace {

std::string hex_code(std::uint8_t code) { return fmt::format("0x{:02X}", code); }

}  // namespace

std::string payload_type_name(std::uint16_t type) {
  const char* name = nullptr;
  switch (static_cast<PayloadType>(type)) {
    case PayloadType::generic_nack: name = "generic header NACK"; break;
    case PayloadType::vehicle_identification_request: name = "vehicle identification request"; break;
    case PayloadType::vehicle_identification_request_eid: name = "vehicle identification request with EID"; break;
    case PayloadType::vehicle_identification_request_vin: name = "vehicle identification request with VIN"; break;
    case PayloadType::vehicle_announcement: name = "vehicle announcement"; break;
    case PayloadType::routing_activation_request: name = "routing activation request"; break;
    case PayloadType::routing_activation_response: name = "routing activation response"; break;
    case PayloadType::alive_check_request: name = "alive check request"; break;
    case PayloadType::alive_check_response: name = "alive check response"; break;
    case PayloadType::entity_status_request: name = "entity status request"; break;
    case PayloadType::entity_status_response: name = "entity status response"; break;
    case PayloadType::power_mode_request: name = "diagnostic power mode request"; break;
    case PayloadType::power_mode_response: name = "diagnostic power mode response"; break;
    case PayloadType::diagnostic_message: name = "diagnostic message"; break;
    case PayloadType::diagnostic_ack: name = "diagnostic message ACK"; break;
    case PayloadType::diagnostic_nack: name = "diagnostic message NACK"; break;
  }
  if (!name) return fmt::format("payload type 0x{:04X}", type);
  return fmt::format("{} (0x{:04X})", name, type);
}

std::string generic_nack_name(std::uint8_t code) {
  const char* name = "unknown generic NACK code";
  switch (static_cast<GenericNack>(code)) {
    case GenericNack::incorrect_pattern: name = "incorrect pattern format"; break;
    case GenericNack::unknown_payload_type: name = "unknown payload type"; break;
    case GenericNack::message_too_large: name = "message too large"; break;
    case GenericNack::out_of_memory: name = "out of memory"; break;
    case GenericNack::invalid_payload_length: name = "invalid payload length"; break;
  }
  return fmt::format("{} ({})", name, hex_code(code));
}

std::string routing_activation_code_name(std::uint8_t code) {
  const char* name = "reserved routing activation code";
  switch (static_cast<RoutingActivationCode>(code)) {
    case RoutingActivationCode::denied_unknown_source: name = "unknown source address"; break;
    case RoutingActivationCode::denied_all_sockets_active: name = "all TCP sockets registered and active"; break;
    case RoutingActivationCode::denied_source_differs:
      name = "source address differs from the one activated on this socket";
      break;
    case RoutingActivationCode::denied_source_active_elsewhere:
      name = "source address already active on another socket";
      break;
    case RoutingActivationCode::denied_missing_authentication: name = "missing authentication"; break;
    case RoutingActivationCode::denied_rejected_confirmation: name = "rejected confirmation"; break;
    case RoutingActivationCode::denied_unsupported_type: name = "unsupported routing activation type"; break;
    case RoutingActivationCode::denied_requires_tls: name = "TLS required"; break;
    case RoutingActivationCode::success: name = "successfully activated"; break;
    case RoutingActivationCode::success_confirmation_required: name = "activated, confirmation required"; break;
  }
  return fmt::format("{} ({})", name, hex_code(code));
}

std::string diag_nack_name(std::uint8_t code) {
  const char* name = "reserved diagnostic NACK code";
  switch (static_cast<DiagNackCode>(code)) {
    case DiagNackCode::invalid_source_address: name = "invalid source address"; break;
    case DiagNackCode::unknown_target_address: name = "unknown target address"; break;
    case DiagNackCode::message_too_large: name = "diagnostic message too large"; break;
    case DiagNackCode::out_of_memory: name = "out of memory"; break;
    case DiagNackCode::target_unreachable: name = "target unreachable"; break;
    case DiagNackCode::unknown_network: name = "unknown network"; break;
    case DiagNackCode::transport_protocol_error: name = "transport protocol error"; break;
  }
  return fmt::format("{} ({})", name, hex_code(code));
}

std::array<std::uint8_t, k_header_size> encode_header(PayloadType type, std::uint32_t payload_length,
                                                       std::uint8_t version) {
  std::array<std::uint8_t, k_header_size> out{};
  out[0] = version;
  out[1] = static_cast<std::uint8_t>(~version);
  put_u16(&out[2], static_cast<std::uint16_t>(type));
  put_u32(&out[4], payload_length);
  return out;
}

Header decode_header(std::span<const std::uint8_t, k_header_size> bytes) {
  Header h;
  h.version = bytes[0];
  h.inverse_version = bytes[1];
  h.payload_type = get_u16(&bytes[2]);
  h.payload_length = get_u32(&bytes[4]);
  return h;
}

Bytes encode_message(PayloadType type, ByteView payload) {
  Bytes out(k_header_size + payload.size());
  auto header = encode_header(type, static_cast<std::uint32_t>(payload.size()));
  std::copy(header.begin(), header.end(), out.begin());
  std::copy(payload.begin(), payload.end(), out.begin() + k_header_size);
  return out;
}

bool is_known_payload_type(std::uint16_t type) {
  switch (static_cast<PayloadType>(type)) {
    case PayloadType::generic_nack:
    case PayloadType::vehicle_identification_request:
    case PayloadType::vehicle_identification_request_eid:
    case PayloadType::vehicle_identification_request_vin:
    case PayloadType::vehicle_announcement:
    case PayloadType::routing_activation_request:
    case PayloadType::routing_activation_response:
    case PayloadType::alive_check_request:
    case PayloadType::alive_check_response:
    case PayloadType::entity_status_request:
    case PayloadType::entity_status_response:
    case PayloadType::power_mode_request:
    case PayloadType::power_mode_response:
    case PayloadType::diagnostic_message:
    case PayloadType::diagnostic_ack:
    case PayloadType::diagnostic_nack: return true;
  }
  return false;
}

namespace {

// Payload lengths from ISO 13400-2's message definitions; optional trailing fields give two sizes.
bool payload_length_valid(std::uint16_t type, std::uint32_t length) {
  switch (static_cast<PayloadType>(type)) {
    case PayloadType::generic_nack: return length == 1;
    case PayloadType::vehicle_identification_request: return length == 0;
    case PayloadType::vehicle_identification_request_eid: return length == 6;
    case PayloadType::vehicle_identification_request_vin: return length == 17;
    case PayloadType::vehicle_announcement: return length == 32 || length == 33;
    case PayloadType::routing_activation_request: return length == 7 || length == 11;
    case PayloadType::routing_activation_response: return length == 9 || length == 13;
    case PayloadType::alive_check_request: return length == 0;
    case PayloadType::alive_check_response: return length == 2;
    case PayloadType::entity_status_request: return length == 0;
    case PayloadType::entity_status_response: return length == 3 || length == 7;
    case PayloadType::power_mode_request: return length == 0;
    case PayloadType::power_mode_response: return length == 1;
    // Source + target address, then at least one byte of user data / the ACK code.
    case PayloadType::diagnostic_message: return length >= k_diag_address_bytes + 1;
    case PayloadType::diagnostic_ack:
    case PayloadType::diagnostic_nack: return length >= k_diag_address_bytes + 1;
  }
  return false;
}

}  // namespace

std::optional<HeaderProblem> check_header(const Header& header, std::uint32_t max_payload_length) {
  std::uint8_t expected_inverse = static_cast<std::uint8_t>(~header.version);
  if (header.inverse_version != expected_inverse || header.version < k_min_protocol_version ||
      header.version > k_max_protocol_version) {
    return HeaderProblem{GenericNack::incorrect_pattern, NackAction::close_socket};
  }
  if (!is_known_payload_type(header.payload_type)) {
    return HeaderProblem{GenericNack::unknown_payload_type, NackAction::discard_message};
  }
  if (header.payload_length > max_payload_length) {
    return HeaderProblem{GenericNack::message_too_large, NackAction::discard_message};
  }
  if (!payload_length_valid(header.payload_type, header.payload_length)) {
    return HeaderProblem{GenericNack::invalid_payload_length, NackAction::close_socket};
  }
  return std::nullopt;
}

StreamReader::StreamReader(std::uint32_t max_payload_length) : m_max_payload_length(max_payload_length) {}

std::span<std::uint8_t> StreamReader::prepare(std::size_t min_size) {
  std::size_t buffered = m_end - m_begin;
  if (buffered == 0) m_begin = m_end = 0;
  // Make room for the whole message in progress so a large one arrives in few receives.
  std::size_t want = min_size;
  if (m_skip == 0 && buffered >= k_header_size) {
    Header h = decode_header(std::span<const std::uint8_t, k_header_size>(m_buffer.data() + m_begin, k_header_size));
    if (h.payload_length <= m_max_payload_length) {
      std::size_t total = k_header_size + h.payload_length;
      if (total > buffered) want = std::max(want, total - buffered);
    }
  }
  if (m_buffer.size() - m_end < want) {
    if (m_begin > 0) {
      std::memmove(m_buffer.data(), m_buffer.data() + m_begin, buffered);
      m_begin = 0;
      m_end = buffered;
    }
    if (m_buffer.size() - m_end < want) m_buffer.resize(m_end + want);
  }
  return {m_buffer.data() + m_end, m_buffer.size() - m_end};
}

void StreamReader::commit(std::size_t size) { m_end = std::min(m_end + size, m_buffer.size()); }

StreamReader::Event StreamReader::next() {
  Event event;
  if (m_broken) return event;
  if (m_skip > 0) {
    std::size_t drop = static_cast<std::size_t>(std::min<std::uint64_t>(m_skip, m_end - m_begin));
    m_begin += drop;
    m_skip -= drop;
    if (m_skip > 0) return event;
  }
  std::size_t buffered = m_end - m_begin;
  if (buffered < k_header_size) return event;
  const std::uint8_t* at = m_buffer.data() + m_begin;
  Header h = decode_header(std::span<const std::uint8_t, k_header_size>(at, k_header_size));
  if (auto problem = check_header(h, m_max_payload_length)) {
    event.kind = Event::Kind::bad_header;
    event.problem = *problem;
    if (problem->action == NackAction::close_socket) {
      m_broken = true;
      m_begin = m_end = 0;
    } else {
      m_begin += k_header_size;
      m_skip = h.payload_length;
      std::size_t drop = static_cast<std::size_t>(std::min<std::uint64_t>(m_skip, m_end - m_begin));
      m_begin += drop;
      m_skip -= drop;
    }
    return event;
  }
  if (buffered - k_header_size < h.payload_length) return event;
  event.kind = Event::Kind::message;
  event.message.header = h;
  event.message.payload = ByteView(at + k_header_size, h.payload_length);
  m_begin += k_header_size + h.payload_length;
  return event;
}

Result<void> send_message(int fd, PayloadType type, ByteView head, ByteView tail) {
  // Header and the small head share one stack buffer; the tail (UDS data) is sent in place.
  constexpr std::size_t k_max_head = 16;
  if (head.size() > k_max_head) return make_error(Errc::internal, "DoIP message head too long");
  std::array<std::uint8_t, k_header_size + k_max_head> front{};
  auto header = encode_header(type, static_cast<std::uint32_t>(head.size() + tail.size()));
  std::copy(header.begin(), header.end(), front.begin());
  std::copy(head.begin(), head.end(), front.begin() + k_header_size);

  std::array<iovec, 2> iov{};
  iov[0].iov_base = front.data();
  iov[0].iov_len = k_header_size + head.size();
  iov[1].iov_base = const_cast<std::uint8_t*>(tail.data());
  iov[1].iov_len = tail.size();
  std::size_t first = 0;
  while (first < iov.size()) {
    if (iov[first].iov_len == 0) {
      ++first;
      continue;
    }
    msghdr msg{};
    msg.msg_iov = &iov[first];
    msg.msg_iovlen = iov.size() - first;
    ssize_t sent = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return make_error(Errc::timeout, fmt::format("sending {}: peer does not read", payload_type_name(static_cast<std::uint16_t>(type))));
      }
      return make_error(Errc::network, fmt::format("sending {}: {}", payload_type_name(static_cast<std::uint16_t>(type)),
                                                   std::strerror(errno)));
    }
    auto left = static_cast<std::size_t>(sent);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      iov[first].iov_len = 0;
      ++first;
    }
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<std::uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return success();
}

Result<void> receive_some(int fd, StreamReader& reader, std::chrono::milliseconds timeout) {
  pollfd pfd{fd, POLLIN, 0};
  for (;;) {
    int ready = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(0, timeout.count())));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return make_error(Errc::network, std::string("poll: ") + std::strerror(errno));
    if (ready == 0) return make_error(Errc::timeout, "nothing received");
    break;
  }
  auto space = reader.prepare();
  for (;;) {
    ssize_t got = ::recv(fd, space.data(), space.size(), MSG_DONTWAIT);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return success();
    if (got < 0) return make_error(Errc::network, std::string("connection lost: ") + std::strerror(errno));
    if (got == 0) return make_error(Errc::network, "connection closed by peer");
    reader.commit(static_cast<std::size_t>(got));
    return success();
  }
}

}  // namespace doip

namespace {

using namespace doip;
using Clock = std::chrono::steady_clock;

// Responses to uploads can be large; anything bigger is NACKed as too large and skipped.
constexpr std::uint32_t k_client_max_payload = 16u * 1024 * 1024;
// When the entity does not report its max data size: the classic ISO-TP limit, which any ECU
// behind a gateway can take. The ECU's RequestDownload answer narrows it further.
constexpr std::size_t k_default_max_message_size = 4095;
// Waits are cut into slices so an interrupt (SIGINT) is noticed promptly.
constexpr std::chrono::milliseconds k_wait_slice{100};
constexpr std::chrono::seconds k_send_timeout{10};

class Fd {
 public:
  explicit Fd(int fd = -1) : m_fd(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  int get() const { return m_fd; }
  int release() { return std::exchange(m_fd, -1); }
  void reset() {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
  }

 private:
  int m_fd;
};

using AddrInfoList = std::unique_ptr<addrinfo, void (*)(addrinfo*)>;

// The stream-socket addresses of `host` (and `port`, when not 0), in the order to try them.
Result<AddrInfoList> resolve_tcp(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), port ? service.c_str() : nullptr, &hints, &found);
  if (rc != 0) return make_error(Errc::network, fmt::format("cannot resolve {}: {}", host, ::gai_strerror(rc)));
  return AddrInfoList(found, ::freeaddrinfo);
}

Result<Fd> tcp_connect(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  ECUUP_ASSIGN(AddrInfoList guard, resolve_tcp(host, port));
  addrinfo* found = guard.get();

  auto deadline = Clock::now() + timeout;
  Error last = make_error(Errc::network, "no address");
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (fd.get() < 0) {
      last = make_error(Errc::network, std::string("socket: ") + std::strerror(errno));
      continue;
    }
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
      last = make_error(Errc::network, std::strerror(errno));
      continue;
    }
    pollfd pfd{fd.get(), POLLOUT, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    int ready = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (ready == 0) return make_error(Errc::timeout, fmt::format("no answer within {} ms", timeout.count()));
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (ready < 0 || err != 0) {
      last = make_error(Errc::network, std::strerror(ready < 0 ? errno : err));
      continue;
    }
    // Blocking from here: receives only follow a poll, sends are bounded by SO_SNDTIMEO.
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    int one = 1;
    // Without TCP_NODELAY each request waits for the peer's delayed ACK (~40 ms).
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{};
    tv.tv_sec = k_send_timeout.count();
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
  }
  return last;
}

// The IPv4 ends of a connected socket; the stand-ins of DoipConnectionEnds for other families.
DoipConnectionEnds connection_ends(int fd) {
  DoipConnectionEnds ends;
  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t local_len = sizeof local;
  socklen_t peer_len = sizeof peer;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
    return ends;
  }
  auto take = [](const sockaddr_storage& address, std::array<std::uint8_t, 4>& ipv4, std::uint16_t& port) {
    if (address.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
      std::memcpy(ipv4.data(), &in->sin_addr, ipv4.size());  // already in network order
      port = ntohs(in->sin_port);
    } else if (address.ss_family == AF_INET6) {
      port = ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    }
  };
  take(local, ends.local_ipv4, ends.local_port);
  take(peer, ends.peer_ipv4, ends.peer_port);
  return ends;
}

class DoipLink final : public DiagLink {
 public:
  DoipLink(Fd fd, DoipOptions options)
      : m_fd(std::move(fd)), m_reader(k_client_max_payload), m_options(std::move(options)),
        m_target(m_options.ecu_address) {
    if (m_options.trace) m_trace = m_options.trace(connection_ends(m_fd.get()));
  }

  Result<void> activate() {
    std::array<std::uint8_t, 7> request{};
    put_u16(&request[0], m_options.tester_address);
    request[2] = m_options.activation_type;  // then 4 reserved bytes, zero
    ECUUP_TRY(write(PayloadType::routing_activation_request, request, {}, "routing activation"));
    auto deadline = Clock::now() + m_options.ack_timeout;
    for (;;) {
      ECUUP_ASSIGN(auto message, next_message(deadline, "routing activation response"));
      if (message.type() == PayloadType::generic_nack) return generic_nack_error(message, "routing activation");
      if (message.type() != PayloadType::routing_activation_response) continue;
      const std::uint8_t* p = message.payload.data();
      std::uint16_t tester = get_u16(p);
      std::uint16_t entity = get_u16(p + 2);
      std::uint8_t code = p[4];
      if (code == static_cast<std::uint8_t>(RoutingActivationCode::success_confirmation_required)) {
        continue;  // the entity answers again once confirmed
      }
      if (code != static_cast<std::uint8_t>(RoutingActivationCode::success)) {
        return fail(Errc::protocol, fmt::format("routing activation denied: {}", routing_activation_code_name(code)));
      }
      if (tester != m_options.tester_address) {
        return fail(Errc::protocol, fmt::format("routing activation answered for tester 0x{:04X}, not 0x{:04X}",
                                                tester, m_options.tester_address));
      }
      m_entity = entity;
      if (m_target == 0) m_target = entity;
      return success();
    }
  }

  // Entity status gives the max data size; a gateway that does not answer gets the default.
  Result<void> query_entity_status() {
    if (m_options.max_data_size) return take_max_data_size(*m_options.max_data_size);
    ECUUP_TRY(write(PayloadType::entity_status_request, {}, {}, "entity status"));
    auto deadline = Clock::now() + m_options.ack_timeout;
    for (;;) {
      auto message = next_message(deadline, "entity status response");
      if (!message && message.error().code == Errc::timeout) return success();
      if (!message) return std::move(message).error();
      if (message->type() == PayloadType::generic_nack) return success();
      if (message->type() != PayloadType::entity_status_response) continue;
      if (message->payload.size() >= 7) return take_max_data_size(get_u32(message->payload.data() + 3));
      return success();
    }
  }

  Result<void> take_max_data_size(std::uint32_t max_data) {
    if (max_data <= k_diag_address_bytes) {
      return fail(Errc::protocol, fmt::format("entity status reports max data size {}", max_data));
    }
    m_max_message_size = max_data - k_diag_address_bytes;
    m_max_reported = true;
    return success();
  }

  Result<void> send(ByteView message) override {
    if (m_max_reported && message.size() > m_max_message_size) {
      return make_error(Errc::protocol,
                        fmt::format("{}: UDS message of {} bytes exceeds the gateway's maximum of {}", describe(),
                                    message.size(), m_max_message_size));
    }
    std::array<std::uint8_t, k_diag_address_bytes> addresses{};
    put_u16(&addresses[0], m_options.tester_address);
    put_u16(&addresses[2], m_target);
    ECUUP_TRY(write(PayloadType::diagnostic_message, addresses, message, "diagnostic message"));
    auto deadline = Clock::now() + m_options.ack_timeout;
    for (;;) {
      ECUUP_ASSIGN(auto reply, next_message(deadline, "diagnostic message acknowledgement"));
      switch (reply.type()) {
        case PayloadType::generic_nack: return generic_nack_error(reply, "diagnostic message");
        case PayloadType::diagnostic_ack:
        case PayloadType::diagnostic_nack: {
          const std::uint8_t* p = reply.payload.data();
          if (get_u16(p) != m_target || get_u16(p + 2) != m_options.tester_address) continue;
          if (reply.type() == PayloadType::diagnostic_ack) return success();
          return make_error(diag_nack_is_transient(p[4]) ? Errc::timeout : Errc::protocol,
                            fmt::format("{}: gateway refused the diagnostic message: {}", describe(),
                                        diag_nack_name(p[4])));
        }
        case PayloadType::diagnostic_message: keep_if_ours(reply); continue;
        default: continue;
      }
    }
  }

  Result<Bytes> receive(std::chrono::milliseconds timeout) override {
    if (!m_pending.empty()) {
      Bytes out = std::move(m_pending.front());
      m_pending.pop_front();
      return out;
    }
    auto deadline = Clock::now() + timeout;
    for (;;) {
      auto message = next_message(deadline, "UDS response");
      if (!message) {
        Error error = std::move(message).error();
        if (error.code == Errc::timeout) {
          error.message = fmt::format("{}: no response from ECU 0x{:04X} within {} ms", describe(), m_target,
                                      timeout.count());
        }
        return error;
      }
      if (message->type() == PayloadType::generic_nack) return generic_nack_error(*message, "waiting for a response");
      if (message->type() != PayloadType::diagnostic_message) continue;
      const std::uint8_t* p = message->payload.data();
      if (get_u16(p) != m_target || get_u16(p + 2) != m_options.tester_address) continue;
      return Bytes(p + k_diag_address_bytes, p + message->payload.size());
    }
  }

  std::size_t max_message_size() const override { return m_max_message_size; }

  std::string describe() const override {
    return fmt::format("DoIP {}:{} ECU 0x{:04X}", m_options.host, m_options.port, m_target);
  }

 private:
  Error fail(Errc code, const std::string& what) {
    return make_error(code, fmt::format("{}: {}", describe(), what));
  }

  Error generic_nack_error(const StreamReader::Message& message, const char* during) {
    return fail(Errc::protocol,
                fmt::format("{}: gateway sent generic header NACK: {}", during, generic_nack_name(message.payload[0])));
  }

  void keep_if_ours(const StreamReader::Message& message) {
    const std::uint8_t* p = message.payload.data();
    if (get_u16(p) != m_target || get_u16(p + 2) != m_options.tester_address) return;
    m_pending.emplace_back(p + k_diag_address_bytes, p + message.payload.size());
  }

  Result<void> write(PayloadType type, ByteView head, ByteView tail, const char* what) {
    if (m_fd.get() < 0) return fail(Errc::network, fmt::format("{}: connection already closed", what));
    if (diag_log_on(k_diag_frames))
      diag_log(k_diag_frames, fmt::format("DoIP -> {} 0x{:04X} ({}): {} {}", describe(), static_cast<unsigned>(type), what,
                                          diag_hex(head), diag_hex(tail)));
    auto sent = send_message(m_fd.get(), type, head, tail);
    if (!sent) {
      if (sent.error().code == Errc::network) m_fd.reset();
      return std::move(sent).error().context(describe());
    }
    if (m_trace) {
      const auto header = encode_header(type, static_cast<std::uint32_t>(head.size() + tail.size()));
      const std::array<ByteView, 3> parts{ByteView(header), head, tail};
      m_trace->message(DoipTraceHook::Direction::to_entity, parts);
    }
    return success();
  }

  void trace_received(const StreamReader::Message& message) {
    if (diag_log_on(k_diag_frames))
      diag_log(k_diag_frames, fmt::format("DoIP <- {} 0x{:04X}: {}", describe(), static_cast<unsigned>(message.type()),
                                          diag_hex(message.payload)));
    if (!m_trace) return;
    const auto header = encode_header(message.type(), message.header.payload_length, message.header.version);
    const std::array<ByteView, 2> parts{ByteView(header), message.payload};
    m_trace->message(DoipTraceHook::Direction::from_entity, parts);
  }

  // A gateway NACKs messages for an ECU that is powered off or still booting (target
  // unreachable), or while its buffers are full: like an ECU's silence, that passes.
  static bool diag_nack_is_transient(std::uint8_t code) {
    return code == static_cast<std::uint8_t>(DiagNackCode::target_unreachable) ||
           code == static_cast<std::uint8_t>(DiagNackCode::out_of_memory);
  }

  // The next message the caller must look at; answers the gateway's alive checks on the way. A
  // deadline already passed still reads what the socket holds (receive(0 ms) drains stale answers).
  Result<StreamReader::Message> next_message(Clock::time_point deadline, const char* waiting_for) {
    bool read_once = false;
    for (;;) {
      auto event = m_reader.next();
      if (event.kind == StreamReader::Event::Kind::message) {
        trace_received(event.message);
        if (event.message.type() == PayloadType::alive_check_request) {
          std::array<std::uint8_t, k_address_size> source{};
          put_u16(source.data(), m_options.tester_address);
          ECUUP_TRY(write(PayloadType::alive_check_response, source, {}, "alive check response"));
          continue;
        }
        return event.message;
      }
      if (event.kind == StreamReader::Event::Kind::bad_header) {
        std::array<std::uint8_t, 1> code{static_cast<std::uint8_t>(event.problem.code)};
        auto nacked = write(PayloadType::generic_nack, code, {}, "generic header NACK");
        std::string what = fmt::format("while waiting for {}: gateway sent a bad DoIP header: {}", waiting_for,
                                       generic_nack_name(code[0]));
        if (event.problem.action == NackAction::close_socket) {
          m_fd.reset();
          return fail(Errc::protocol, what);
        }
        if (!nacked) return std::move(nacked).error();
        continue;
      }
      if (m_fd.get() < 0) return fail(Errc::network, fmt::format("{}: connection already closed", waiting_for));
      if (interrupt_requested()) return fail(Errc::interrupted, fmt::format("interrupted waiting for {}", waiting_for));
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        if (read_once) return fail(Errc::timeout, fmt::format("no {} in time", waiting_for));
        left = std::chrono::milliseconds(0);
      }
      read_once = true;
      auto got = receive_some(m_fd.get(), m_reader, std::min(left, k_wait_slice));
      if (!got && got.error().code != Errc::timeout) {
        m_fd.reset();
        return fail(got.error().code, fmt::format("while waiting for {}: {}", waiting_for, got.error().message));
      }
    }
  }

  Fd m_fd;
  StreamReader m_reader;
  DoipOptions m_options;
  std::uint16_t m_target;
  std::uint16_t m_entity = 0;
  std::size_t m_max_message_size = k_default_max_message_size;
  bool m_max_reported = false;
  std::deque<Bytes> m_pending;
  std::unique_ptr<DoipTraceHook> m_trace;
};

class PcapngDoipHook final : public DoipTraceHook {
 public:
  PcapngDoipHook(std::shared_ptr<PcapngWriter> writer, const std::string& iface, const DoipConnectionEnds& ends)
      : m_stream(std::move(writer), iface, TcpEndpoint{ends.local_ipv4, ends.local_port},
                 TcpEndpoint{ends.peer_ipv4, ends.peer_port}) {}
  void message(Direction direction, std::span<const ByteView> parts) override {
    m_stream.segment(direction == Direction::to_entity ? TcpStreamTrace::Direction::client_to_server
                                                       : TcpStreamTrace::Direction::server_to_client,
                     parts);
  }

 private:
  TcpStreamTrace m_stream;
};

}  // namespace

DoipTraceFactory make_doip_pcapng_trace(std::shared_ptr<PcapngWriter> writer, std::string iface) {
  return [writer = std::move(writer), iface = std::move(iface)](const DoipConnectionEnds& ends) {
    return std::unique_ptr<DoipTraceHook>(std::make_unique<PcapngDoipHook>(writer, iface, ends));
  };
}

std::vector<std::string> doip_host_addresses(const std::string& host) {
  std::vector<std::string> out;
  auto found = resolve_tcp(host, 0);
  if (!found) return out;
  for (addrinfo* ai = found->get(); ai; ai = ai->ai_next) {
    char text[NI_MAXHOST];
    if (::getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST) != 0) continue;
    if (std::find(out.begin(), out.end(), text) == out.end()) out.emplace_back(text);
  }
  return out;
}

namespace {

// A gateway that stays silent on UDP is asked once per process (the uds driver opens a connection
// per operation); one that answers, or whose port is closed (booting), is asked on every connect.
constexpr std::chrono::milliseconds k_udp_status_timeout{500};

std::optional<std::uint32_t> udp_max_data_size(const DoipOptions& options) {
  static std::mutex mutex;
  static std::set<std::pair<std::string, std::uint16_t>> silent;
  const auto key = std::make_pair(options.host, options.port);
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (silent.count(key)) return std::nullopt;
  }
  auto status = doip::request_entity_status(doip::UdpEndpoint{options.host, options.port},
                                            std::min(options.ack_timeout, k_udp_status_timeout));
  if (status) return status->max_data_size;
  if (status.error().code == Errc::timeout) {
    std::lock_guard<std::mutex> lock(mutex);
    silent.insert(key);
  }
  return std::nullopt;
}

// ISO 13400-2: a vehicle whose diagnostic power mode is "not ready" is not to be diagnosed, let
// alone programmed. Asked over UDP of a gateway that answers there, before the TCP connection, so
// a refusal reaches no ECU. "Not supported" or no answer: the gateway does not say; carry on.
Result<void> check_power_mode(const DoipOptions& options) {
  auto mode = doip::request_power_mode(doip::UdpEndpoint{options.host, options.port},
                                       std::min(options.ack_timeout, k_udp_status_timeout));
  if (mode && *mode == doip::k_power_mode_not_ready)
    return make_error(Errc::ecu, "the vehicle reports diagnostic power mode 'not ready' (ISO 13400-2): switch the "
                                 "ignition on, or wait until it is, and try again; nothing was sent to an ECU");
  return success();
}

}  // namespace

Result<std::unique_ptr<DiagLink>> connect_doip(const DoipOptions& options) {
  auto where = fmt::format("DoIP {}:{}", options.host, options.port);
  DoipOptions asked = options;
  if (!asked.max_data_size) {
    asked.max_data_size = udp_max_data_size(options);
    if (asked.max_data_size) ECUUP_TRY(check_power_mode(options).with_context(where));
  }
  auto fd = tcp_connect(options.host, options.port, options.connect_timeout);
  if (!fd) return std::move(fd).error().context(where + ": connect");
  return connect_doip_socket(std::move(fd).value().release(), asked);
}

Result<std::unique_ptr<DiagLink>> connect_doip_socket(int fd, const DoipOptions& options) {
  auto link = std::make_unique<DoipLink>(Fd(fd), options);
  ECUUP_TRY(link->activate());
  ECUUP_TRY(link->query_entity_status());
  return std::unique_ptr<DiagLink>(std::move(link));
}

}  // namespace ecuup
