#pragma once
// DoIP (ISO 13400-2) over UDP: vehicle discovery (identification request 0x0001/0x0002/0x0003,
// announcement / identification response 0x0004), entity status (0x4001/0x4002) and diagnostic
// power mode (0x4003/0x4004). The codec both sides share, and the tester's UDP requests.
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup::doip {

inline constexpr std::size_t k_vin_size = 17;
inline constexpr std::size_t k_eid_size = 6;
inline constexpr std::size_t k_gid_size = 6;
// VIN, logical address, EID, GID, further action; then the optional VIN/GID sync status.
inline constexpr std::size_t k_announcement_size = k_vin_size + 2 + k_eid_size + k_gid_size + 1;
inline constexpr std::size_t k_entity_status_size = 7;  // node type, max/open sockets, max data size
// Vehicle identification requests may carry this version instead of a real one (the default).
inline constexpr std::uint8_t k_identification_default_version = 0xFF;
// A_DoIP_Announce_Num announcements, A_DoIP_Announce_Interval apart, after A_DoIP_Announce_Wait.
inline constexpr int k_announce_count = 3;
inline constexpr std::chrono::milliseconds k_announce_interval{500};
inline constexpr std::chrono::milliseconds k_announce_wait_max{500};
// A_DoIP_Ctrl: how long a tester waits for answers to a UDP request.
inline constexpr std::chrono::milliseconds k_doip_ctrl{2000};
inline constexpr std::uint8_t k_further_action_none = 0x00;
inline constexpr std::uint8_t k_further_action_central_security = 0x10;
inline constexpr std::uint8_t k_sync_complete = 0x00;
inline constexpr std::uint8_t k_sync_incomplete = 0x10;
inline constexpr std::uint8_t k_power_mode_not_ready = 0x00;
inline constexpr std::uint8_t k_power_mode_ready = 0x01;
inline constexpr std::uint8_t k_power_mode_not_supported = 0x02;

using Vin = std::array<std::uint8_t, k_vin_size>;
using Eid = std::array<std::uint8_t, k_eid_size>;
using Gid = std::array<std::uint8_t, k_gid_size>;

// The payload of a vehicle announcement / identification response.
struct VehicleAnnouncement {
  Vin vin{};
  std::uint16_t logical_address = 0;
  Eid eid{};
  Gid gid{};
  std::uint8_t further_action = k_further_action_none;
  std::optional<std::uint8_t> sync_status;  // absent in the 32-byte form
};

struct EntityStatus {
  std::uint8_t node_type = 0;
  std::uint8_t max_sockets = 0;
  std::uint8_t open_sockets = 0;
  std::optional<std::uint32_t> max_data_size;  // absent in the 3-byte form
};

Bytes encode_announcement(const VehicleAnnouncement& announcement);
// Errc::protocol when the payload is not 32 or 33 bytes.
Result<VehicleAnnouncement> decode_announcement(ByteView payload);
Bytes encode_entity_status(const EntityStatus& status);
Result<EntityStatus> decode_entity_status(ByteView payload);

// "WVWZZZ1KZAW000001" -> the 17 bytes; Errc::usage unless exactly 17 printable ASCII characters.
Result<Vin> parse_vin(const std::string& text);
// "00:1a:2b:3c:4d:5e" or "001A2B3C4D5E" -> 6 bytes; Errc::usage otherwise.
Result<Eid> parse_eid(const std::string& text);
// The VIN as text: printable ASCII as is; unset (all 0x00 or all 0xFF) as ""; otherwise hex.
std::string vin_text(const Vin& vin);
// "00:1A:2B:3C:4D:5E"
std::string eid_text(const std::array<std::uint8_t, 6>& id);

// One full UDP datagram: header + payload. `version` 0xFF is allowed for identification requests.
Bytes encode_datagram(std::uint16_t payload_type, ByteView payload, std::uint8_t version = 0x02);

// A UDP endpoint "HOST[:PORT]"; the port defaults to 13400.
struct UdpEndpoint {
  std::string host;
  std::uint16_t port = 13400;
};
Result<UdpEndpoint> parse_udp_endpoint(const std::string& text);
std::string endpoint_text(const UdpEndpoint& endpoint);

// The limited broadcast address where ISO 13400-2 sends identification requests by default.
inline constexpr const char* k_broadcast_address = "255.255.255.255";

struct DiscoverOptions {
  UdpEndpoint target{k_broadcast_address, 13400};
  std::optional<Vin> vin;  // 0x0003: only the entity with this VIN answers
  std::optional<Eid> eid;  // 0x0002: only the entity with this EID answers
  std::chrono::milliseconds timeout{600};
  // Stop at the first answer (a caller that looks for one gateway by VIN).
  bool first_only = false;
};

// A DoIP entity that answered: what it announced and where its answer came from.
struct DiscoveredEntity {
  VehicleAnnouncement announcement;
  std::string address;  // the IPv4 address it answered from
  std::uint16_t port = 0;  // its UDP port (a gateway's DoIP TCP port is the same number)
};

// Sends the identification request and collects the answers for `timeout` (answers that do not
// match the VIN/EID asked for are dropped; each entity once). Errc::usage for a bad target,
// Errc::network when it cannot be sent. An empty list means nothing answered.
Result<std::vector<DiscoveredEntity>> discover_entities(const DiscoverOptions& options);

// Asks the entity at `target` for its status over UDP. Errc::timeout when it stays silent within
// `timeout`, Errc::network when the port is closed (ICMP unreachable), Errc::protocol on a NACK.
Result<EntityStatus> request_entity_status(const UdpEndpoint& target, std::chrono::milliseconds timeout);
// Asks the diagnostic power mode (k_power_mode_*), the same way.
Result<std::uint8_t> request_power_mode(const UdpEndpoint& target, std::chrono::milliseconds timeout);

}  // namespace ecuup::doip
