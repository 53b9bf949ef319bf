#pragma once
// ISO-TP (ISO 15765-2) in userspace over any FrameBus: single, first, consecutive and flow-control
// frames, block size and STmin, 12-bit and 32-bit first-frame lengths, CAN FD (escape single frame,
// DLC padding), N_As/N_Bs/N_Cr timeouts, FC WAIT and OVFLW.
#include <chrono>
#include <filesystem>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "transport/frame_bus.hpp"
#include "transport/link.hpp"
#include "util/result.hpp"

namespace ecuup {

enum class IsoTpAddressing { normal, normal_fixed };  // normal 11/29-bit ids; normal-fixed 29-bit (18DA/18DB TA SA)

// Functional requests (one request to several ECUs, e.g. 0x7DF or 0x18DB33F1) must fit a single
// frame (ISO 15765-2: no flow control with many receivers); normal-fixed then uses 0x18DB<TA><SA>.
enum class IsoTpTarget { physical, functional };

struct IsoTpOptions {
  std::uint32_t tx_id = 0, rx_id = 0;
  bool extended_ids = false;
  IsoTpAddressing addressing = IsoTpAddressing::normal;
  std::uint8_t source_address = 0xF1, target_address = 0;  // normal_fixed only: ids derived from these
  bool fd = false;
  std::uint8_t tx_dl = 8;                       // 8, or 12..64 for CAN FD
  std::optional<std::uint8_t> padding = 0xCC;   // nullopt: no padding (classic frames shortened)
  std::uint8_t block_size = 0;
  std::uint8_t st_min = 0;                      // what we announce in our FlowControl
  std::chrono::milliseconds n_as{1000}, n_bs{1000}, n_cr{1000};
  std::uint32_t max_rx_message = 1u << 24;      // OVFLW above this
  std::uint8_t max_wait_frames = 10;            // FC WAIT frames tolerated before giving up
  IsoTpTarget target = IsoTpTarget::physical;   // functional: sends are single frames only
};

// Errc::config for invalid options (ids out of range, tx_dl not a valid length, classic with tx_dl != 8,
// a reserved st_min, zero timeouts). Errors from the link: Errc::timeout naming the ISO-TP timer
// (N_As, N_Bs, N_Cr) or "no message" for receive(); Errc::protocol for FC OVFLW, an invalid flow
// status, a wrong sequence number or a message above max_rx_message (we answer it with OVFLW).
// The link sends CAN FD frames with BRS when `fd`. One thread at a time.
Result<std::unique_ptr<DiagLink>> make_isotp_link(std::shared_ptr<FrameBus> bus, const IsoTpOptions& options);

// Linux kernel CAN_ISOTP socket (SOCK_DGRAM, CAN_ISOTP); Errc::unsupported where the kernel lacks it.
// A non-empty `trace_file` gets the link's frames as open_frame_bus would trace them (see BusOptions).
Result<std::unique_ptr<DiagLink>> make_kernel_isotp_link(const std::string& iface, const IsoTpOptions& options,
                                                         const std::filesystem::path& trace_file = {});

// STmin byte -> separation time: 0x00-0x7F ms, 0xF1-0xF9 100-900 µs, reserved values 127 ms.
std::chrono::microseconds decode_st_min(std::uint8_t st_min);

// Options with normal-fixed ids filled in (29-bit 0x18DA<TA><SA> out, or 0x18DB<TA><SA> when
// functional; 0x18DA<SA><TA> in) and everything validated.
Result<IsoTpOptions> resolve_isotp_options(const IsoTpOptions& options);

}  // namespace ecuup
