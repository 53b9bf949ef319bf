#pragma once
// DoIP (ISO 13400-2) over TCP: the codec both sides share, and the tester-side DiagLink.
// A message is an 8-byte generic header (version, inverted version, payload type u16, payload
// length u32, all big-endian) followed by the payload.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "transport/link.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

// Both ends of a tester's DoIP connection as a trace shows them: IPv4 addresses (127.0.0.1 and
// 127.0.0.2 stand in for the ends of a connection that is not IPv4) and TCP ports.
struct DoipConnectionEnds {
  std::array<std::uint8_t, 4> local_ipv4{127, 0, 0, 1};
  std::array<std::uint8_t, 4> peer_ipv4{127, 0, 0, 2};
  std::uint16_t local_port = 0;
  std::uint16_t peer_port = 0;
};

// Sees every whole DoIP message the tester link sends or receives, generic header included
// (the --trace file). Messages dropped unread (a bad header, an oversized payload) are not seen.
class DoipTraceHook {
 public:
  enum class Direction { to_entity, from_entity };
  virtual ~DoipTraceHook() = default;
  // The message is `parts` concatenated.
  virtual void message(Direction direction, std::span<const ByteView> parts) = 0;
};
// Called once the TCP connection stands, before routing activation.
using DoipTraceFactory = std::function<std::unique_ptr<DoipTraceHook>(const DoipConnectionEnds& ends)>;

class PcapngWriter;
// A hook that writes the connection into a pcapng trace as IPv4/TCP on the interface `iface`:
// the tester at its real address and port, the entity at its address and TCP port 13400 (where
// dissectors look for DoIP, whatever port the entity really listens on).
DoipTraceFactory make_doip_pcapng_trace(std::shared_ptr<PcapngWriter> writer, std::string iface);

struct DoipOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 13400;
  std::uint16_t tester_address = 0x0E00;  // logical addresses
  std::uint16_t ecu_address = 0;          // 0: the DoIP entity's own address from routing activation
  std::uint8_t activation_type = 0x00;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds ack_timeout{2000};
  DoipTraceFactory trace;  // empty: no trace
  // The entity's max data size when already known (connect_doip asks it over UDP); empty: asked
  // on the TCP connection after routing activation, where a gateway may answer with a NACK.
  std::optional<std::uint32_t> max_data_size;
};

// Asks the entity status over UDP (ISO 13400-2: at the gateway's address, its DoIP port), then
// connects, activates routing, and sizes max_message_size() from the max data size.
// Errc::network when the gateway is unreachable or drops the connection, Errc::timeout when it
// stays silent, Errc::protocol when it denies routing or breaks the protocol.
Result<std::unique_ptr<DiagLink>> connect_doip(const DoipOptions& options);
// connect_doip() over a stream socket already connected to the entity, which the link owns from
// then on (closed on failure too), without UDP. For tests and the fuzzer, whose entity is a
// socketpair's end.
Result<std::unique_ptr<DiagLink>> connect_doip_socket(int fd, const DoipOptions& options);

// The numeric addresses connect_doip() would try for `host` ("localhost" -> "127.0.0.1", "::1"),
// so that two spellings of one gateway compare equal. Empty when the name does not resolve.
std::vector<std::string> doip_host_addresses(const std::string& host);

namespace doip {

inline constexpr std::uint16_t k_default_port = 13400;
inline constexpr std::size_t k_header_size = 8;
// ISO 13400-2:2012 is version 0x02; 0x01 (2010) and 0x03 (2019) share the TCP message set.
inline constexpr std::uint8_t k_protocol_version = 0x02;
inline constexpr std::uint8_t k_min_protocol_version = 0x01;
inline constexpr std::uint8_t k_max_protocol_version = 0x03;
inline constexpr std::size_t k_address_size = 2;
// Source and target address in front of the UDS bytes of a diagnostic message.
inline constexpr std::size_t k_diag_address_bytes = 2 * k_address_size;
// Tester logical addresses: ISO 13400-2 reserves 0x0E00..0x0FFF for external test equipment.
inline constexpr std::uint16_t k_tester_address_min = 0x0E00;
inline constexpr std::uint16_t k_tester_address_max = 0x0FFF;

enum class PayloadType : std::uint16_t {
  generic_nack = 0x0000,
  vehicle_identification_request = 0x0001,
  vehicle_identification_request_eid = 0x0002,
  vehicle_identification_request_vin = 0x0003,
  vehicle_announcement = 0x0004,
  routing_activation_request = 0x0005,
  routing_activation_response = 0x0006,
  alive_check_request = 0x0007,
  alive_check_response = 0x0008,
  entity_status_request = 0x4001,
  entity_status_response = 0x4002,
  power_mode_request = 0x4003,
  power_mode_response = 0x4004,
  diagnostic_message = 0x8001,
  diagnostic_ack = 0x8002,
  diagnostic_nack = 0x8003,
};

// Generic DoIP header negative acknowledge codes (payload of a generic_nack message).
enum class GenericNack : std::uint8_t {
  incorrect_pattern = 0x00,  // version/inverse mismatch: the receiver closes the socket
  unknown_payload_type = 0x01,
  message_too_large = 0x02,
  out_of_memory = 0x03,
  invalid_payload_length = 0x04,  // the receiver closes the socket
};

enum class RoutingActivationCode : std::uint8_t {
  denied_unknown_source = 0x00,
  denied_all_sockets_active = 0x01,
  denied_source_differs = 0x02,
  denied_source_active_elsewhere = 0x03,
  denied_missing_authentication = 0x04,
  denied_rejected_confirmation = 0x05,
  denied_unsupported_type = 0x06,
  denied_requires_tls = 0x07,
  success = 0x10,
  success_confirmation_required = 0x11,
};

enum class DiagNackCode : std::uint8_t {
  invalid_source_address = 0x02,
  unknown_target_address = 0x03,
  message_too_large = 0x04,
  out_of_memory = 0x05,
  target_unreachable = 0x06,
  unknown_network = 0x07,
  transport_protocol_error = 0x08,
};
inline constexpr std::uint8_t k_diag_ack_code = 0x00;

inline constexpr std::uint8_t k_activation_default = 0x00;
inline constexpr std::uint8_t k_activation_wwh_obd = 0x01;
inline constexpr std::uint8_t k_activation_central_security = 0xE0;

inline constexpr std::uint8_t k_node_type_gateway = 0x00;
inline constexpr std::uint8_t k_node_type_node = 0x01;

// "routing activation request (0x0005)"; unknown values as "payload type 0x1234".
std::string payload_type_name(std::uint16_t type);
// "message too large (0x02)", "unsupported routing activation type (0x06)", ...
std::string generic_nack_name(std::uint8_t code);
std::string routing_activation_code_name(std::uint8_t code);
std::string diag_nack_name(std::uint8_t code);

struct Header {
  std::uint8_t version = k_protocol_version;
  std::uint8_t inverse_version = static_cast<std::uint8_t>(~k_protocol_version);
  std::uint16_t payload_type = 0;
  std::uint32_t payload_length = 0;
};

std::array<std::uint8_t, k_header_size> encode_header(PayloadType type, std::uint32_t payload_length,
                                                       std::uint8_t version = k_protocol_version);
Header decode_header(std::span<const std::uint8_t, k_header_size> bytes);
// Header followed by payload, in one buffer.
Bytes encode_message(PayloadType type, ByteView payload);

// What the receiver does after a bad header (ISO 13400-2 generic header handler).
enum class NackAction { discard_message, close_socket };
struct HeaderProblem {
  GenericNack code;
  NackAction action;
};
bool is_known_payload_type(std::uint16_t type);
// Checks in the order the standard gives: pattern, payload type, maximum size, payload length.
std::optional<HeaderProblem> check_header(const Header& header, std::uint32_t max_payload_length);

// Splits a TCP byte stream into messages. Receive straight into prepare(), then commit();
// next() yields messages whose payload views stay valid until the next prepare()/next().
class StreamReader {
 public:
  struct Message {
    Header header;
    ByteView payload;
    PayloadType type() const { return static_cast<PayloadType>(header.payload_type); }
  };
  struct Event {
    enum class Kind { need_more, message, bad_header } kind = Kind::need_more;
    Message message;        // kind == message
    HeaderProblem problem{GenericNack::incorrect_pattern, NackAction::close_socket};  // kind == bad_header
  };

  explicit StreamReader(std::uint32_t max_payload_length);
  std::span<std::uint8_t> prepare(std::size_t min_size = 4096);
  void commit(std::size_t size);
  Event next();
  std::uint32_t max_payload_length() const { return m_max_payload_length; }
  // After a close_socket problem the stream is unusable; next() keeps reporting need_more.
  bool broken() const { return m_broken; }

 private:
  Bytes m_buffer;
  std::size_t m_begin = 0;
  std::size_t m_end = 0;
  std::uint64_t m_skip = 0;  // payload bytes of a discarded message still to drop
  std::uint32_t m_max_payload_length;
  bool m_broken = false;
};

// Sends header + head + tail with one sendmsg (no Nagle split, no copy of the tail). The peer
// sees one message of type `type` whose payload is head followed by tail.
Result<void> send_message(int fd, PayloadType type, ByteView head, ByteView tail = {});
// Waits up to `timeout` for bytes and receives what is there into the reader.
// Errc::timeout when nothing arrived, Errc::network when the peer closed or reset.
Result<void> receive_some(int fd, StreamReader& reader, std::chrono::milliseconds timeout);

inline void put_u16(std::uint8_t* out, std::uint16_t value) {
  out[0] = static_cast<std::uint8_t>(value >> 8);
  out[1] = static_cast<std::uint8_t>(value);
}
inline std::uint16_t get_u16(const std::uint8_t* in) {
  return static_cast<std::uint16_t>((in[0] << 8) | in[1]);
}
inline void put_u32(std::uint8_t* out, std::uint32_t value) {
  out[0] = static_cast<std::uint8_t>(value >> 24);
  out[1] = static_cast<std::uint8_t>(value >> 16);
  out[2] = static_cast<std::uint8_t>(value >> 8);
  out[3] = static_cast<std::uint8_t>(value);
}
inline std::uint32_t get_u32(const std::uint8_t* in) {
  return (static_cast<std::uint32_t>(in[0]) << 24) | (static_cast<std::uint32_t>(in[1]) << 16) |
         (static_cast<std::uint32_t>(in[2]) << 8) | in[3];
}

}  // namespace doip
}  // namespace ecuup
