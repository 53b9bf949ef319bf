#pragma once
// How the uds driver reaches its ECU: ISO-TP over a CAN frame bus (userspace or the kernel's
// CAN_ISOTP socket), or DoIP over TCP. Kept in one place so the rest of the driver only sees
// a DiagLink.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "transport/link.hpp"
#include "util/result.hpp"

namespace ecuup {

enum class UdsTransportKind { can, doip };
enum class IsoTpBackend { user, kernel };

struct UdsCanSettings {
  std::string bus;  // "udp:LOCAL:REMOTE" or "socketcan:IFACE"
  IsoTpBackend backend = IsoTpBackend::user;
  std::uint32_t tx_id = 0x7E0;
  std::uint32_t rx_id = 0x7E8;
  bool extended_ids = false;
  bool normal_fixed = false;  // 29-bit normal-fixed addressing from source/target address
  std::uint8_t source_address = 0xF1;
  std::uint8_t target_address = 0x00;
  bool fd = false;
  std::uint8_t tx_dl = 8;
  std::optional<std::uint8_t> padding = 0xCC;
  std::uint8_t block_size = 0;
  std::uint8_t st_min = 0;
  std::uint32_t bitrate = 0;       // >0: bus-timing model
  std::uint32_t data_bitrate = 0;  // CAN FD data phase
  std::chrono::milliseconds n_as{1000}, n_bs{1000}, n_cr{1000};
};

struct UdsDoipSettings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 13400;
  bool port_given = false;
  // Non-empty: the gateway is the DoIP entity that answers an identification request with this
  // VIN, sent to `discovery_address` (HOST[:PORT]; empty: broadcast 255.255.255.255:13400); its
  // TCP port is `port` when given, else the UDP port it answered from.
  std::string vin;
  std::string discovery_address;
  std::uint16_t tester_address = 0x0E00;
  std::uint16_t ecu_address = 0;
  std::uint8_t activation_type = 0;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds ack_timeout{2000};
};

struct UdsTransportSettings {
  UdsTransportKind kind = UdsTransportKind::can;
  UdsCanSettings can;
  UdsDoipSettings doip;
};

// Opens the link; `trace_file` (may be empty) records the traffic: CAN frames and DoIP messages in
// pcapng when it ends in .pcapng, else CAN frames in candump format (DoIP is then left out, with a
// trace notice).
Result<std::unique_ptr<DiagLink>> make_uds_link(const UdsTransportSettings& settings,
                                                const std::filesystem::path& trace_file);

}  // namespace ecuup
