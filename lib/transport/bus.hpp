#pragma once
// Opening a CAN frame bus from a spec string, the Linux frame images the buses exchange, and the
// optional layers every bus can carry: a trace (candump log or pcapng) and a bus-timing model.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "transport/frame_bus.hpp"
#include "util/result.hpp"

namespace ecuup {

// The trace is appended to (several links may share one file); its interface field is the
// SocketCAN interface, or "udp<LOCALPORT>" for a udp bus.
struct BusOptions {
  std::filesystem::path trace_file;   // non-empty: trace of every frame, both directions (open_frame_trace)
  std::uint32_t bitrate = 0;          // >0: timing model, sends are paced at this nominal bitrate
  std::uint32_t data_bitrate = 0;     // CAN FD data phase (BRS frames); 0 = same as bitrate
};

// "udp:LOCALPORT:REMOTEPORT" (127.0.0.1) or "socketcan:IFACE"; Errc::config for a bad spec,
// Errc::unsupported when the kernel has no SocketCAN, Errc::io when a socket cannot be opened.
Result<std::shared_ptr<FrameBus>> open_frame_bus(const std::string& spec, const BusOptions& options = {});

// Linux CAN_RAW frame images: `struct can_frame` (16 bytes) and `struct canfd_frame` (72 bytes)
// in host byte order, as read() on a CAN_RAW socket returns them.
inline constexpr std::size_t k_can_frame_image_size = 16;
inline constexpr std::size_t k_canfd_frame_image_size = 72;
using FrameImage = std::array<std::uint8_t, k_canfd_frame_image_size>;

// Writes the image of `frame` into `out`; returns its size (16 or 72). Errc::protocol when the
// frame's id or length is invalid (an FD length that is not a valid DLC length, id out of range).
Result<std::size_t> encode_frame_image(const CanFrame& frame, FrameImage& out);
// Errc::protocol for a size other than 16/72, a bad length, or an RTR/error frame.
Result<CanFrame> decode_frame_image(std::span<const std::uint8_t> image);

// The layers open_frame_bus adds, usable on any bus (the simulator, tests).
// Trace: every frame sent and received, as a candump log line naming `iface`, or (FILE.pcapng)
// as a packet on the pcapng interface `iface`.
Result<std::shared_ptr<FrameBus>> make_traced_bus(std::shared_ptr<FrameBus> bus, const std::filesystem::path& trace_file,
                                                  const std::string& iface);
// Timing model: each send returns when the frame would have left a bus at `bitrate`, frames
// back to back; lateness from sleep jitter is caught up so the long-run rate matches the model.
std::shared_ptr<FrameBus> make_paced_bus(std::shared_ptr<FrameBus> bus, std::uint32_t bitrate,
                                         std::uint32_t data_bitrate = 0);

// Receives from a blocking socket with one syscall per frame: SO_RCVTIMEO carries the deadline
// and is only changed when the time left no longer fits the current setting (the usual stream
// of N_Cr waits reuses it). Returns the datagram's full size (as MSG_TRUNC reports it),
// Errc::timeout at `deadline`, Errc::io otherwise. For the socket-based buses.
class SocketReceiver {
 public:
  explicit SocketReceiver(int fd) : m_fd(fd) {}
  Result<std::size_t> receive(std::span<std::uint8_t> buffer, std::chrono::steady_clock::time_point deadline);

 private:
  int m_fd;
  std::chrono::microseconds m_timeout{0};  // current SO_RCVTIMEO; 0 = not set
};

// Two connected in-memory buses: what one sends, the other receives. Thread-safe; for tests and
// for an in-process simulator.
std::pair<std::shared_ptr<FrameBus>, std::shared_ptr<FrameBus>> make_memory_bus_pair();

}  // namespace ecuup
