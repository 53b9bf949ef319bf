#include "transport/doip_discovery.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "transport/doip.hpp"
#include "util/cancel.hpp"

namespace ecuup::doip {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds k_wait_slice{100};
constexpr std::size_t k_max_datagram = 1500;  // an Ethernet frame's payload; DoIP UDP messages are small

bool all_equal(const Vin& vin, std::uint8_t value) {
  return std::all_of(vin.begin(), vin.end(), [value](std::uint8_t b) { return b == value; });
}

class UdpSocket {
 public:
  UdpSocket() : m_fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~UdpSocket() {
    if (m_fd >= 0) ::close(m_fd);
  }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  int fd() const { return m_fd; }

 private:
  int m_fd;
};

Result<sockaddr_in> resolve_ipv4(const UdpEndpoint& endpoint) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(endpoint.host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || !found) {
    return make_error(Errc::network, fmt::format("cannot resolve {} to an IPv4 address: {}", endpoint.host,
                                                 rc != 0 ? ::gai_strerror(rc) : "no address"));
  }
  sockaddr_in out{};
  std::memcpy(&out, found->ai_addr, sizeof out);
  ::freeaddrinfo(found);
  out.sin_port = htons(endpoint.port);
  return out;
}

struct Datagram {
  std::uint16_t payload_type = 0;
  Bytes payload;
  sockaddr_in from{};
};

// The next well-formed DoIP datagram before `deadline`; nullopt when none came in time.
// Errc::network when the socket reports an error (ICMP port unreachable on a connected socket).
Result<std::optional<Datagram>> receive_datagram(int fd, Clock::time_point deadline) {
  std::array<std::uint8_t, k_max_datagram> buffer{};
  for (;;) {
    if (interrupt_requested()) return make_error(Errc::interrupted, "interrupted waiting for DoIP answers");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::optional<Datagram>{};
    pollfd pfd{fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(std::min(left, k_wait_slice).count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return make_error(Errc::network, std::string("poll: ") + std::strerror(errno));
    if (ready == 0) continue;
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    ssize_t got = ::recvfrom(fd, buffer.data(), buffer.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from),
                             &from_len);
    if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (got < 0) return make_error(Errc::network, std::strerror(errno));
    if (static_cast<std::size_t>(got) < k_header_size) continue;
    Header h = decode_header(std::span<const std::uint8_t, k_header_size>(buffer.data(), k_header_size));
    if (h.inverse_version != static_cast<std::uint8_t>(~h.version) || h.version < k_min_protocol_version ||
        h.version > k_max_protocol_version || h.payload_length != static_cast<std::size_t>(got) - k_header_size) {
      continue;  // not a DoIP message for us
    }
    Datagram d;
    d.payload_type = h.payload_type;
    d.payload.assign(buffer.begin() + k_header_size, buffer.begin() + got);
    d.from = from;
    return std::optional<Datagram>(std::move(d));
  }
}

// One request to one entity and its answer of type `answer_type`.
Result<Bytes> ask(const UdpEndpoint& target, PayloadType request, PayloadType answer_type,
                  std::chrono::milliseconds timeout) {
  const std::string where = fmt::format("DoIP UDP {}", endpoint_text(target));
  ECUUP_ASSIGN(sockaddr_in to, resolve_ipv4(target).with_context(where));
  UdpSocket socket;
  if (socket.fd() < 0) return make_error(Errc::network, where + ": socket: " + std::strerror(errno));
  // Connected: only the entity's answers arrive, and a closed port shows as ECONNREFUSED.
  if (::connect(socket.fd(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
    return make_error(Errc::network, where + ": " + std::strerror(errno));
  const Bytes message = encode_datagram(static_cast<std::uint16_t>(request), {});
  if (::send(socket.fd(), message.data(), message.size(), 0) < 0)
    return make_error(Errc::network, where + ": send: " + std::strerror(errno));
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto got = receive_datagram(socket.fd(), deadline);
    if (!got) return std::move(got).error().context(where);
    if (!*got) {
      return make_error(Errc::timeout, fmt::format("{}: no {} within {} ms", where,
                                                   payload_type_name(static_cast<std::uint16_t>(answer_type)),
                                                   timeout.count()));
    }
    const Datagram& d = **got;
    if (d.payload_type == static_cast<std::uint16_t>(PayloadType::generic_nack) && d.payload.size() == 1) {
      return make_error(Errc::protocol, fmt::format("{}: {} answered with generic header NACK: {}", where,
                                                    payload_type_name(static_cast<std::uint16_t>(request)),
                                                    generic_nack_name(d.payload[0])));
    }
    if (d.payload_type == static_cast<std::uint16_t>(answer_type)) return d.payload;
  }
}

}  // namespace

Bytes encode_announcement(const VehicleAnnouncement& a) {
  Bytes out;
  out.reserve(k_announcement_size + 1);
  out.insert(out.end(), a.vin.begin(), a.vin.end());
  out.push_back(static_cast<std::uint8_t>(a.logical_address >> 8));
  out.push_back(static_cast<std::uint8_t>(a.logical_address));
  out.insert(out.end(), a.eid.begin(), a.eid.end());
  out.insert(out.end(), a.gid.begin(), a.gid.end());
  out.push_back(a.further_action);
  if (a.sync_status) out.push_back(*a.sync_status);
  return out;
}

Result<VehicleAnnouncement> decode_announcement(ByteView p) {
  if (p.size() != k_announcement_size && p.size() != k_announcement_size + 1)
    return make_error(Errc::protocol, fmt::format("vehicle announcement of {} bytes (32 or 33 expected)", p.size()));
  VehicleAnnouncement a;
  std::size_t at = 0;
  std::copy_n(p.begin() + at, k_vin_size, a.vin.begin());
  at += k_vin_size;
  a.logical_address = get_u16(p.data() + at);
  at += 2;
  std::copy_n(p.begin() + at, k_eid_size, a.eid.begin());
  at += k_eid_size;
  std::copy_n(p.begin() + at, k_gid_size, a.gid.begin());
  at += k_gid_size;
  a.further_action = p[at++];
  if (at < p.size()) a.sync_status = p[at];
  return a;
}

Bytes encode_entity_status(const EntityStatus& s) {
  Bytes out{s.node_type, s.max_sockets, s.open_sockets};
  if (s.max_data_size) {
    out.resize(k_entity_status_size);
    put_u32(&out[3], *s.max_data_size);
  }
  return out;
}

Result<EntityStatus> decode_entity_status(ByteView p) {
  if (p.size() != 3 && p.size() != k_entity_status_size)
    return make_error(Errc::protocol, fmt::format("entity status of {} bytes (3 or 7 expected)", p.size()));
  EntityStatus s;
  s.node_type = p[0];
  s.max_sockets = p[1];
  s.open_sockets = p[2];
  if (p.size() == k_entity_status_size) s.max_data_size = get_u32(p.data() + 3);
  return s;
}

Result<Vin> parse_vin(const std::string& text) {
  Vin vin{};
  if (text.size() != k_vin_size ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7F; })) {
    return make_error(Errc::usage, fmt::format("VIN '{}' must be 17 printable ASCII characters", text));
  }
  std::copy(text.begin(), text.end(), vin.begin());
  return vin;
}

Result<Eid> parse_eid(const std::string& text) {
  std::string hex;
  for (char c : text)
    if (c != ':' && c != '-') hex.push_back(c);
  auto bytes = from_hex(hex);
  if (!bytes || bytes->size() != k_eid_size)
    return make_error(Errc::usage, fmt::format("EID '{}' must be 6 bytes in hex (e.g. 00:1A:2B:3C:4D:5E)", text));
  Eid eid{};
  std::copy(bytes->begin(), bytes->end(), eid.begin());
  return eid;
}

std::string vin_text(const Vin& vin) {
  if (all_equal(vin, 0x00) || all_equal(vin, 0xFF)) return "";
  if (std::all_of(vin.begin(), vin.end(), [](std::uint8_t c) { return c >= 0x20 && c < 0x7F; }))
    return std::string(vin.begin(), vin.end());
  return to_hex(vin);
}

std::string eid_text(const std::array<std::uint8_t, 6>& id) {
  return fmt::format("{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}", id[0], id[1], id[2], id[3], id[4], id[5]);
}

Bytes encode_datagram(std::uint16_t payload_type, ByteView payload, std::uint8_t version) {
  Bytes out(k_header_size + payload.size());
  out[0] = version;
  out[1] = static_cast<std::uint8_t>(~version);
  put_u16(&out[2], payload_type);
  put_u32(&out[4], static_cast<std::uint32_t>(payload.size()));
  std::copy(payload.begin(), payload.end(), out.begin() + k_header_size);
  return out;
}

Result<UdpEndpoint> parse_udp_endpoint(const std::string& text) {
  UdpEndpoint endpoint;
  const auto colon = text.rfind(':');
  endpoint.host = text.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string port = text.substr(colon + 1);
    char* end = nullptr;
    const unsigned long value = std::strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || value == 0 || value > 0xFFFF)
      return make_error(Errc::usage, fmt::format("'{}': the port must be 1..65535", text));
    endpoint.port = static_cast<std::uint16_t>(value);
  }
  if (endpoint.host.empty()) return make_error(Errc::usage, fmt::format("'{}' names no host (HOST[:PORT])", text));
  return endpoint;
}

std::string endpoint_text(const UdpEndpoint& endpoint) { return fmt::format("{}:{}", endpoint.host, endpoint.port); }

Result<std::vector<DiscoveredEntity>> discover_entities(const DiscoverOptions& options) {
  const std::string where = fmt::format("DoIP vehicle identification to {}", endpoint_text(options.target));
  ECUUP_ASSIGN(sockaddr_in to, resolve_ipv4(options.target).with_context(where));
  UdpSocket socket;
  if (socket.fd() < 0) return make_error(Errc::network, where + ": socket: " + std::strerror(errno));
  int one = 1;
  // Allowed to send to a broadcast address (255.255.255.255, 127.255.255.255, a subnet's).
  ::setsockopt(socket.fd(), SOL_SOCKET, SO_BROADCAST, &one, sizeof one);

  Bytes payload;
  auto type = PayloadType::vehicle_identification_request;
  if (options.vin) {
    type = PayloadType::vehicle_identification_request_vin;
    payload.assign(options.vin->begin(), options.vin->end());
  } else if (options.eid) {
    type = PayloadType::vehicle_identification_request_eid;
    payload.assign(options.eid->begin(), options.eid->end());
  }
  const Bytes message = encode_datagram(static_cast<std::uint16_t>(type), payload);
  if (::sendto(socket.fd(), message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
    return make_error(Errc::network, where + ": " + std::strerror(errno));

  std::vector<DiscoveredEntity> found;
  const auto deadline = Clock::now() + options.timeout;
  for (;;) {
    auto got = receive_datagram(socket.fd(), deadline);
    if (!got) {
      // An unconnected socket may still hear of an ICMP error from a unicast target: nobody there.
      if (got.error().code == Errc::network) break;
      return std::move(got).error().context(where);
    }
    if (!*got) break;
    const Datagram& d = **got;
    if (d.payload_type != static_cast<std::uint16_t>(PayloadType::vehicle_announcement)) continue;
    auto announcement = decode_announcement(d.payload);
    if (!announcement) continue;
    if (options.vin && announcement->vin != *options.vin) continue;
    if (options.eid && announcement->eid != *options.eid) continue;
    DiscoveredEntity entity;
    entity.announcement = *announcement;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &d.from.sin_addr, text, sizeof text);
    entity.address = text;
    entity.port = ntohs(d.from.sin_port);
    const bool seen = std::any_of(found.begin(), found.end(), [&](const DiscoveredEntity& e) {
      return e.address == entity.address && e.port == entity.port &&
             e.announcement.logical_address == entity.announcement.logical_address &&
             e.announcement.eid == entity.announcement.eid;
    });
    if (seen) continue;
    found.push_back(std::move(entity));
    if (options.first_only) break;
  }
  return found;
}

Result<EntityStatus> request_entity_status(const UdpEndpoint& target, std::chrono::milliseconds timeout) {
  ECUUP_ASSIGN(Bytes payload, ask(target, PayloadType::entity_status_request, PayloadType::entity_status_response, timeout));
  return decode_entity_status(payload).with_context(fmt::format("DoIP UDP {}", endpoint_text(target)));
}

Result<std::uint8_t> request_power_mode(const UdpEndpoint& target, std::chrono::milliseconds timeout) {
  ECUUP_ASSIGN(Bytes payload, ask(target, PayloadType::power_mode_request, PayloadType::power_mode_response, timeout));
  if (payload.size() != 1)
    return make_error(Errc::protocol, fmt::format("DoIP UDP {}: power mode answer of {} bytes", endpoint_text(target),
                                                  payload.size()));
  return payload[0];
}

}  // namespace ecuup::doip
