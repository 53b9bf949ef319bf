#include "transport/pcapng.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>

namespace ecuup {

namespace pcapng {

namespace {

constexpr std::size_t k_block_alignment = 4;  // every block and option value ends on a 32-bit boundary
constexpr std::uint64_t k_section_length_unknown = ~std::uint64_t{0};
constexpr std::uint32_t k_snaplen_unlimited = 0;
constexpr std::uint32_t k_can_eff_flag = 0x80000000;  // CAN_EFF_FLAG: 29-bit identifier
constexpr std::uint8_t k_canfd_brs = 0x01;            // CANFD_BRS
constexpr std::uint8_t k_canfd_fdf = 0x04;            // CANFD_FDF: marks the frame as CAN FD
constexpr std::size_t k_socketcan_header = 8;
constexpr std::size_t k_can_frame_size = 16;
constexpr std::size_t k_canfd_frame_size = 72;

template <typename T>
void put_host(Bytes& out, T value) {
  std::uint8_t raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  out.insert(out.end(), raw, raw + sizeof(T));
}

void pad(Bytes& out) {
  while (out.size() % k_block_alignment != 0) out.push_back(0);
}

void put_option(Bytes& out, std::uint16_t code, ByteView value) {
  put_host<std::uint16_t>(out, code);
  put_host<std::uint16_t>(out, static_cast<std::uint16_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
  pad(out);
}

ByteView text_bytes(std::string_view text) {
  return ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

// Starts a block at the end of `out`; returns where it starts so finish_block can patch the length.
std::size_t begin_block(Bytes& out, std::uint32_t type) {
  const std::size_t start = out.size();
  put_host<std::uint32_t>(out, type);
  put_host<std::uint32_t>(out, 0);  // block total length, patched by finish_block
  return start;
}

void finish_block(Bytes& out, std::size_t start) {
  const auto total = static_cast<std::uint32_t>(out.size() - start + sizeof(std::uint32_t));
  std::memcpy(out.data() + start + sizeof(std::uint32_t), &total, sizeof total);
  put_host<std::uint32_t>(out, total);  // the trailing copy lets readers walk backwards
}

void append_section_header(Bytes& out, std::string_view application) {
  const auto start = begin_block(out, k_block_section_header);
  put_host<std::uint32_t>(out, k_byte_order_magic);
  put_host<std::uint16_t>(out, k_major_version);
  put_host<std::uint16_t>(out, k_minor_version);
  put_host<std::uint64_t>(out, k_section_length_unknown);
  put_option(out, k_opt_shb_userappl, text_bytes(application));
  put_option(out, k_opt_end, {});
  finish_block(out, start);
}

void append_interface_description(Bytes& out, std::uint16_t link_type, std::string_view name) {
  const auto start = begin_block(out, k_block_interface_description);
  put_host<std::uint16_t>(out, link_type);
  put_host<std::uint16_t>(out, 0);  // reserved
  put_host<std::uint32_t>(out, k_snaplen_unlimited);
  put_option(out, k_opt_if_name, text_bytes(name));
  const std::uint8_t resolution = k_tsresol_microseconds;
  put_option(out, k_opt_if_tsresol, ByteView(&resolution, 1));
  put_option(out, k_opt_end, {});
  finish_block(out, start);
}

void append_enhanced_packet(Bytes& out, std::uint32_t interface_id, std::chrono::system_clock::time_point when,
                            std::span<const ByteView> parts) {
  using namespace std::chrono;
  const auto micros = duration_cast<microseconds>(when.time_since_epoch()).count();
  const auto stamp = micros < 0 ? std::uint64_t{0} : static_cast<std::uint64_t>(micros);
  std::size_t length = 0;
  for (const auto& part : parts) length += part.size();
  const auto start = begin_block(out, k_block_enhanced_packet);
  put_host<std::uint32_t>(out, interface_id);
  put_host<std::uint32_t>(out, static_cast<std::uint32_t>(stamp >> 32));
  put_host<std::uint32_t>(out, static_cast<std::uint32_t>(stamp));
  put_host<std::uint32_t>(out, static_cast<std::uint32_t>(length));  // captured
  put_host<std::uint32_t>(out, static_cast<std::uint32_t>(length));  // original
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  pad(out);
  finish_block(out, start);
}

}  // namespace

bool is_pcapng_path(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".pcapng";
}

Bytes section_header_block(std::string_view application) {
  Bytes out;
  append_section_header(out, application);
  return out;
}

Bytes interface_description_block(std::uint16_t link_type, std::string_view name) {
  Bytes out;
  append_interface_description(out, link_type, name);
  return out;
}

Bytes enhanced_packet_block(std::uint32_t interface_id, std::chrono::system_clock::time_point when,
                            std::span<const ByteView> parts) {
  Bytes out;
  append_enhanced_packet(out, interface_id, when, parts);
  return out;
}

std::size_t encode_socketcan_packet(const CanFrame& frame, std::array<std::uint8_t, 72>& out) {
  out.fill(0);
  const std::uint32_t id = frame.id | (frame.extended ? k_can_eff_flag : 0);
  // LINKTYPE_CAN_SOCKETCAN carries can_id in network byte order, unlike the in-memory can_frame.
  out[0] = static_cast<std::uint8_t>(id >> 24);
  out[1] = static_cast<std::uint8_t>(id >> 16);
  out[2] = static_cast<std::uint8_t>(id >> 8);
  out[3] = static_cast<std::uint8_t>(id);
  const std::size_t capacity = (frame.fd ? k_canfd_frame_size : k_can_frame_size) - k_socketcan_header;
  const std::size_t len = std::min<std::size_t>({frame.len, frame.data.size(), capacity});
  out[4] = static_cast<std::uint8_t>(len);
  if (frame.fd) out[5] = static_cast<std::uint8_t>(k_canfd_fdf | (frame.brs ? k_canfd_brs : 0));
  std::copy_n(frame.data.begin(), len, out.begin() + k_socketcan_header);
  return frame.fd ? k_canfd_frame_size : k_can_frame_size;
}

}  // namespace pcapng

namespace {

constexpr auto k_flush_interval = std::chrono::milliseconds(200);
constexpr std::size_t k_buffer_bytes = 256 * 1024;  // whole blocks; one write() per flush
constexpr std::string_view k_application = "ecuup";

void write_all(int fd, const std::uint8_t* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk loses trace blocks, never the transfer they describe
    done += static_cast<std::size_t>(n);
  }
}

struct Registry {
  std::mutex mutex;
  std::map<std::filesystem::path, std::shared_ptr<PcapngWriter>> writers;
};

Registry& registry() {
  // Lives until exit: writers are flushed when it is destroyed after main returns.
  static Registry instance;
  return instance;
}

}  // namespace

PcapngWriter::PcapngWriter(int fd, std::filesystem::path path) : m_fd(fd), m_path(std::move(path)) {
  m_buffer.reserve(k_buffer_bytes);
  pcapng::append_section_header(m_block, k_application);
  append_locked(m_block);
  flush_locked();  // a trace with no packet yet is still a readable file
  m_flusher = std::thread([this] { flush_periodically(); });
}

void PcapngWriter::flush_periodically() {
  std::unique_lock lock(m_mutex);
  while (!m_stop_requested.wait_for(lock, k_flush_interval, [this] { return m_stopping; })) {
    if (!m_buffer.empty() && std::chrono::steady_clock::now() - m_last_flush >= k_flush_interval) flush_locked();
  }
}

Result<std::shared_ptr<PcapngWriter>> PcapngWriter::open(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Errc::io, "cannot open trace file " + file.string() + ": " + std::strerror(errno));
  return std::shared_ptr<PcapngWriter>(new PcapngWriter(fd, file));
}

Result<std::shared_ptr<PcapngWriter>> PcapngWriter::shared(const std::filesystem::path& file) {
  std::error_code ec;
  auto key = std::filesystem::absolute(file, ec).lexically_normal();
  if (ec) key = file;
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  auto found = r.writers.find(key);
  if (found != r.writers.end()) return found->second;
  ECUUP_ASSIGN(auto writer, open(file));
  r.writers.emplace(key, writer);
  return writer;
}

PcapngWriter::~PcapngWriter() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_stop_requested.notify_all();
  m_flusher.join();
  flush();
  ::close(m_fd);
}

std::uint32_t PcapngWriter::interface(std::uint16_t link_type, std::string_view name) {
  std::lock_guard lock(m_mutex);
  for (std::size_t i = 0; i < m_interfaces.size(); ++i) {
    if (m_interfaces[i].first == link_type && m_interfaces[i].second == name) return static_cast<std::uint32_t>(i);
  }
  m_interfaces.emplace_back(link_type, std::string(name));
  m_block.clear();
  pcapng::append_interface_description(m_block, link_type, name);
  append_locked(m_block);
  return static_cast<std::uint32_t>(m_interfaces.size() - 1);
}

void PcapngWriter::packet(std::uint32_t interface_id, std::chrono::system_clock::time_point when,
                          std::span<const ByteView> parts) {
  std::lock_guard lock(m_mutex);
  m_block.clear();
  pcapng::append_enhanced_packet(m_block, interface_id, when, parts);
  append_locked(m_block);
  if (std::chrono::steady_clock::now() - m_last_flush >= k_flush_interval) flush_locked();
}

void PcapngWriter::flush() {
  std::lock_guard lock(m_mutex);
  flush_locked();
}

void PcapngWriter::append_locked(ByteView block) {
  if (m_buffer.size() + block.size() > k_buffer_bytes) flush_locked();
  if (block.size() > k_buffer_bytes) {
    write_all(m_fd, block.data(), block.size());
    return;
  }
  m_buffer.insert(m_buffer.end(), block.begin(), block.end());
}

void PcapngWriter::flush_locked() {
  write_all(m_fd, m_buffer.data(), m_buffer.size());
  m_buffer.clear();
  m_last_flush = std::chrono::steady_clock::now();
}

PcapngCanTrace::PcapngCanTrace(std::shared_ptr<PcapngWriter> writer, std::string_view iface)
    : m_writer(std::move(writer)), m_interface(m_writer->interface(pcapng::k_linktype_can_socketcan, iface)) {}

PcapngCanTrace::~PcapngCanTrace() { m_writer->flush(); }

void PcapngCanTrace::write(const CanFrame& frame, std::chrono::system_clock::time_point when) {
  std::array<std::uint8_t, 72> image;
  const std::size_t size = pcapng::encode_socketcan_packet(frame, image);
  const ByteView part(image.data(), size);
  m_writer->packet(m_interface, when, std::span<const ByteView>(&part, 1));
}

void PcapngCanTrace::flush() { m_writer->flush(); }

namespace {

constexpr std::size_t k_ipv4_header = 20;
constexpr std::size_t k_tcp_header = 20;
constexpr std::size_t k_max_ipv4_total = 65535;
constexpr std::size_t k_max_segment_payload = k_max_ipv4_total - k_ipv4_header - k_tcp_header;
constexpr std::uint8_t k_ipv4_version_ihl = 0x45;  // version 4, 5 header words
constexpr std::uint16_t k_ipv4_dont_fragment = 0x4000;
constexpr std::uint8_t k_ipv4_ttl = 64;
constexpr std::uint8_t k_ip_protocol_tcp = 6;
constexpr std::uint8_t k_tcp_data_offset = 5 << 4;  // 5 header words, no options
constexpr std::uint16_t k_tcp_window = 0xFFFF;
constexpr std::uint8_t k_tcp_fin = 0x01;
constexpr std::uint8_t k_tcp_syn = 0x02;
constexpr std::uint8_t k_tcp_psh = 0x08;
constexpr std::uint8_t k_tcp_ack = 0x10;
// Initial sequence numbers: any value works; fixed ones keep traces reproducible.
constexpr std::uint32_t k_client_isn = 0x10000000;
constexpr std::uint32_t k_server_isn = 0x20000000;

void put_be16(std::uint8_t* out, std::uint16_t value) {
  out[0] = static_cast<std::uint8_t>(value >> 8);
  out[1] = static_cast<std::uint8_t>(value);
}

void put_be32(std::uint8_t* out, std::uint32_t value) {
  out[0] = static_cast<std::uint8_t>(value >> 24);
  out[1] = static_cast<std::uint8_t>(value >> 16);
  out[2] = static_cast<std::uint8_t>(value >> 8);
  out[3] = static_cast<std::uint8_t>(value);
}

// RFC 1071 one's-complement sum of 16-bit big-endian words; an odd last byte is padded with zero.
std::uint32_t sum_words(const std::uint8_t* data, std::size_t size, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < size; i += 2) sum += static_cast<std::uint32_t>((data[i] << 8) | data[i + 1]);
  if (size % 2 != 0) sum += static_cast<std::uint32_t>(data[size - 1] << 8);
  return sum;
}

std::uint16_t fold_checksum(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

}  // namespace

TcpStreamTrace::TcpStreamTrace(std::shared_ptr<PcapngWriter> writer, std::string_view iface, TcpEndpoint client,
                               TcpEndpoint server, std::chrono::system_clock::time_point when)
    : m_writer(std::move(writer)), m_interface(m_writer->interface(pcapng::k_linktype_ipv4, iface)) {
  m_client.endpoint = client;
  m_client.next_seq = k_client_isn;
  m_server.endpoint = server;
  m_server.next_seq = k_server_isn;
  // The handshake gives readers the initial sequence numbers (relative numbering, stream start).
  emit(m_client, m_server, k_tcp_syn, {}, 0, 0, when);
  ++m_client.next_seq;
  emit(m_server, m_client, k_tcp_syn | k_tcp_ack, {}, 0, 0, when);
  ++m_server.next_seq;
  emit(m_client, m_server, k_tcp_ack, {}, 0, 0, when);
}

TcpStreamTrace::~TcpStreamTrace() {
  const auto when = std::chrono::system_clock::now();
  emit(m_client, m_server, k_tcp_fin | k_tcp_ack, {}, 0, 0, when);
  ++m_client.next_seq;
  emit(m_server, m_client, k_tcp_fin | k_tcp_ack, {}, 0, 0, when);
  ++m_server.next_seq;
  emit(m_client, m_server, k_tcp_ack, {}, 0, 0, when);
  m_writer->flush();
}

void TcpStreamTrace::segment(Direction direction, std::span<const ByteView> parts,
                             std::chrono::system_clock::time_point when) {
  Side& from = direction == Direction::client_to_server ? m_client : m_server;
  const Side& to = direction == Direction::client_to_server ? m_server : m_client;
  std::size_t total = 0;
  for (const auto& part : parts) total += part.size();
  for (std::size_t offset = 0; offset < total; offset += k_max_segment_payload) {
    const std::size_t size = std::min(k_max_segment_payload, total - offset);
    emit(from, to, k_tcp_psh | k_tcp_ack, parts, offset, size, when);
  }
}

void TcpStreamTrace::emit(Side& from, const Side& to, std::uint8_t flags, std::span<const ByteView> parts,
                          std::size_t offset, std::size_t size, std::chrono::system_clock::time_point when) {
  const std::size_t total = k_ipv4_header + k_tcp_header + size;
  m_packet.assign(total, 0);
  std::uint8_t* ip = m_packet.data();
  ip[0] = k_ipv4_version_ihl;
  put_be16(ip + 2, static_cast<std::uint16_t>(total));
  put_be16(ip + 4, from.ip_id++);
  put_be16(ip + 6, k_ipv4_dont_fragment);
  ip[8] = k_ipv4_ttl;
  ip[9] = k_ip_protocol_tcp;
  std::copy(from.endpoint.ipv4.begin(), from.endpoint.ipv4.end(), ip + 12);
  std::copy(to.endpoint.ipv4.begin(), to.endpoint.ipv4.end(), ip + 16);
  put_be16(ip + 10, fold_checksum(sum_words(ip, k_ipv4_header)));

  std::uint8_t* tcp = ip + k_ipv4_header;
  put_be16(tcp + 0, from.endpoint.port);
  put_be16(tcp + 2, to.endpoint.port);
  put_be32(tcp + 4, from.next_seq);
  put_be32(tcp + 8, (flags & k_tcp_ack) != 0 ? to.next_seq : 0);
  tcp[12] = k_tcp_data_offset;
  tcp[13] = flags;
  put_be16(tcp + 14, k_tcp_window);

  std::uint8_t* out = tcp + k_tcp_header;
  std::size_t skip = offset;
  std::size_t left = size;
  for (const auto& part : parts) {
    if (left == 0) break;
    if (skip >= part.size()) {
      skip -= part.size();
      continue;
    }
    const std::size_t n = std::min(part.size() - skip, left);
    std::memcpy(out, part.data() + skip, n);
    out += n;
    left -= n;
    skip = 0;
  }

  // TCP checksum over the pseudo header (addresses, protocol, TCP length) and the segment.
  const std::size_t tcp_length = k_tcp_header + size;
  std::uint32_t sum = sum_words(ip + 12, 8);
  sum += k_ip_protocol_tcp;
  sum += static_cast<std::uint32_t>(tcp_length);
  sum = sum_words(tcp, tcp_length, sum);
  put_be16(tcp + 16, fold_checksum(sum));

  from.next_seq += static_cast<std::uint32_t>(size);
  const ByteView whole(m_packet.data(), m_packet.size());
  m_writer->packet(m_interface, when, std::span<const ByteView>(&whole, 1));
}

}  // namespace ecuup
