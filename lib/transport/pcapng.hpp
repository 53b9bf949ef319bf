#pragma once
// pcapng traces (the --trace FILE.pcapng format): CAN frames on LINKTYPE_CAN_SOCKETCAN interfaces,
// DoIP connections as synthesized IPv4/TCP on LINKTYPE_IPV4 interfaces, one file per process.
// Blocks are written in host byte order (the Section Header's byte-order magic tells readers).
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "transport/frame_bus.hpp"
#include "transport/trace.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

namespace pcapng {

inline constexpr std::uint32_t k_block_section_header = 0x0A0D0D0A;
inline constexpr std::uint32_t k_block_interface_description = 0x00000001;
inline constexpr std::uint32_t k_block_enhanced_packet = 0x00000006;
inline constexpr std::uint32_t k_byte_order_magic = 0x1A2B3C4D;
inline constexpr std::uint16_t k_major_version = 1;
inline constexpr std::uint16_t k_minor_version = 0;
inline constexpr std::uint16_t k_opt_end = 0;
inline constexpr std::uint16_t k_opt_shb_userappl = 4;
inline constexpr std::uint16_t k_opt_if_name = 2;
inline constexpr std::uint16_t k_opt_if_tsresol = 9;
inline constexpr std::uint8_t k_tsresol_microseconds = 6;  // 10^-6 s, also the default without the option
// LINKTYPE_ values (tcpdump link-layer header types).
inline constexpr std::uint16_t k_linktype_can_socketcan = 227;
inline constexpr std::uint16_t k_linktype_ipv4 = 228;
// Enhanced Packet Block without packet data and options: 7 words of fields + the trailing length.
inline constexpr std::size_t k_epb_overhead = 32;

// Whether --trace FILE asks for pcapng: the name ends in ".pcapng" (any case).
bool is_pcapng_path(const std::filesystem::path& file);

// Whole blocks as the writer emits them (for tests and for writing without a file).
Bytes section_header_block(std::string_view application);
Bytes interface_description_block(std::uint16_t link_type, std::string_view name);
// Packet data is the concatenation of `parts`, padded to 32 bits; timestamp in microseconds.
Bytes enhanced_packet_block(std::uint32_t interface_id, std::chrono::system_clock::time_point when,
                            std::span<const ByteView> parts);

// The LINKTYPE_CAN_SOCKETCAN packet of `frame`: can_id with the EFF flag in network byte order,
// payload length, FD flags (CANFD_FDF on FD frames), two reserved bytes, then the data; 16 bytes
// for a classic frame, 72 for an FD frame (the sizes of struct can_frame / canfd_frame).
std::size_t encode_socketcan_packet(const CanFrame& frame, std::array<std::uint8_t, 72>& out);

}  // namespace pcapng

// Appends one pcapng section (SHB, then an IDB for each interface on first use, then EPBs) to a
// file. Thread-safe. Buffered in whole blocks and written when the buffer fills, on flush(), on
// close, and by a flusher thread once buffered blocks are 200 ms old (a link waiting on a slow
// ECU writes nothing for seconds): a killed process loses at most the last 200 ms, and leaves
// only whole blocks behind.
class PcapngWriter {
 public:
  // The one writer of `file` for this process, shared by every link tracing into it (a second
  // section in the same file would split the links' interfaces). Opened on first use, kept (and
  // flushed) until the process exits.
  static Result<std::shared_ptr<PcapngWriter>> shared(const std::filesystem::path& file);
  // A writer of its own (O_APPEND; a file that already holds a section gets a second one).
  static Result<std::shared_ptr<PcapngWriter>> open(const std::filesystem::path& file);
  ~PcapngWriter();
  PcapngWriter(const PcapngWriter&) = delete;
  PcapngWriter& operator=(const PcapngWriter&) = delete;

  // The id of the interface with this link type and name; its IDB is written on first request.
  std::uint32_t interface(std::uint16_t link_type, std::string_view name);
  // One Enhanced Packet Block on `interface_id`; the packet is `parts` concatenated.
  void packet(std::uint32_t interface_id, std::chrono::system_clock::time_point when, std::span<const ByteView> parts);
  void flush();
  const std::filesystem::path& path() const { return m_path; }

 private:
  PcapngWriter(int fd, std::filesystem::path path);
  void append_locked(ByteView block);
  void flush_locked();
  void flush_periodically();
  std::mutex m_mutex;
  std::condition_variable m_stop_requested;
  bool m_stopping = false;
  int m_fd;
  std::filesystem::path m_path;
  std::vector<std::pair<std::uint16_t, std::string>> m_interfaces;
  Bytes m_buffer;
  Bytes m_block;  // scratch for the block being built
  std::chrono::steady_clock::time_point m_last_flush = std::chrono::steady_clock::now();
  std::thread m_flusher;  // last member: started once everything it reads is constructed
};

// CAN frames onto one LINKTYPE_CAN_SOCKETCAN interface of a pcapng writer.
class PcapngCanTrace final : public FrameTrace {
 public:
  PcapngCanTrace(std::shared_ptr<PcapngWriter> writer, std::string_view iface);
  ~PcapngCanTrace() override;  // flushes: the bus is closed, its frames belong on disk
  void write(const CanFrame& frame, std::chrono::system_clock::time_point when) override;
  void flush() override;

 private:
  std::shared_ptr<PcapngWriter> m_writer;
  std::uint32_t m_interface;
};

// One TCP connection as a pcapng reader expects it: a synthesized handshake, then each message as
// one PSH/ACK segment (split only beyond the IPv4 size limit) with sequence and acknowledgement
// numbers running on per direction, and a FIN exchange when the trace is destroyed.
struct TcpEndpoint {
  std::array<std::uint8_t, 4> ipv4{};
  std::uint16_t port = 0;
};

class TcpStreamTrace {
 public:
  enum class Direction { client_to_server, server_to_client };
  TcpStreamTrace(std::shared_ptr<PcapngWriter> writer, std::string_view iface, TcpEndpoint client,
                 TcpEndpoint server, std::chrono::system_clock::time_point when = std::chrono::system_clock::now());
  ~TcpStreamTrace();
  TcpStreamTrace(const TcpStreamTrace&) = delete;
  TcpStreamTrace& operator=(const TcpStreamTrace&) = delete;

  // `parts` concatenated are the payload (one application message).
  void segment(Direction direction, std::span<const ByteView> parts,
               std::chrono::system_clock::time_point when = std::chrono::system_clock::now());

 private:
  struct Side {
    TcpEndpoint endpoint;
    std::uint32_t next_seq = 0;
    std::uint16_t ip_id = 0;
  };
  void emit(Side& from, const Side& to, std::uint8_t flags, std::span<const ByteView> parts, std::size_t offset,
            std::size_t size, std::chrono::system_clock::time_point when);
  std::shared_ptr<PcapngWriter> m_writer;
  std::uint32_t m_interface;
  Side m_client;
  Side m_server;
  Bytes m_packet;  // reused: no allocation per segment once warm
};

}  // namespace ecuup
