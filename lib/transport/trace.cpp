#include "transport/trace.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "transport/pcapng.hpp"

namespace ecuup {

namespace {

constexpr char k_hex_digits[] = "0123456789ABCDEF";
constexpr auto k_flush_interval = std::chrono::milliseconds(200);
constexpr std::size_t k_trace_buffer_bytes = 64 * 1024;  // whole lines; one write() per flush
constexpr std::uint8_t k_flag_brs = 0x01;  // CANFD_BRS
constexpr std::uint8_t k_flag_fdf = 0x04;  // CANFD_FDF: set on every FD frame the kernel hands out

char* put_hex(char* p, std::uint32_t value, int digits) {
  for (int i = digits - 1; i >= 0; --i) *p++ = k_hex_digits[(value >> (4 * i)) & 0xF];
  return p;
}

char* put_decimal(char* p, std::uint64_t value, int min_digits) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n < min_digits) tmp[n++] = '0';
  while (n > 0) *p++ = tmp[--n];
  return p;
}

}  // namespace

std::size_t format_candump_line(char* out, const CanFrame& frame, std::chrono::system_clock::time_point when,
                                std::string_view iface) {
  using namespace std::chrono;
  const auto micros = duration_cast<microseconds>(when.time_since_epoch()).count();
  const auto safe = micros < 0 ? 0 : static_cast<std::uint64_t>(micros);
  char* p = out;
  *p++ = '(';
  p = put_decimal(p, safe / 1'000'000, 10);
  *p++ = '.';
  p = put_decimal(p, safe % 1'000'000, 6);
  *p++ = ')';
  *p++ = ' ';
  const std::size_t iface_len = std::min(iface.size(), k_max_trace_iface);
  std::memcpy(p, iface.data(), iface_len);
  p += iface_len;
  *p++ = ' ';
  p = frame.extended ? put_hex(p, frame.id, 8) : put_hex(p, frame.id, 3);
  *p++ = '#';
  if (frame.fd) {
    *p++ = '#';
    *p++ = k_hex_digits[(frame.brs ? k_flag_brs : 0) | k_flag_fdf];
  }
  const std::size_t len = std::min<std::size_t>(frame.len, frame.data.size());
  for (std::size_t i = 0; i < len; ++i) p = put_hex(p, frame.data[i], 2);
  return static_cast<std::size_t>(p - out);
}

std::string candump_line(const CanFrame& frame, std::chrono::system_clock::time_point when, std::string_view iface) {
  char buf[k_max_trace_line];
  return std::string(buf, format_candump_line(buf, frame, when, iface));
}

TraceWriter::TraceWriter(int fd, std::string iface)
    : m_fd(fd), m_iface(std::move(iface)), m_buffer(k_trace_buffer_bytes) {}

Result<void> start_trace_file(const std::filesystem::path& file, bool append) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  if (fd < 0) return make_error(Errc::io, "cannot open trace file " + file.string() + ": " + std::strerror(errno));
  ::close(fd);
  return success();
}

Result<std::unique_ptr<TraceWriter>> TraceWriter::open(const std::filesystem::path& file, std::string iface) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Errc::io, "cannot open trace file " + file.string() + ": " + std::strerror(errno));
  if (iface.size() > k_max_trace_iface) iface.resize(k_max_trace_iface);
  return std::unique_ptr<TraceWriter>(new TraceWriter(fd, std::move(iface)));
}

TraceWriter::~TraceWriter() {
  flush();
  ::close(m_fd);
}

void TraceWriter::write(const CanFrame& frame, std::chrono::system_clock::time_point when) {
  char line[k_max_trace_line + 1];
  std::size_t n = format_candump_line(line, frame, when, m_iface);
  line[n++] = '\n';
  std::lock_guard lock(m_mutex);
  if (m_used + n > m_buffer.size()) flush_locked();
  std::memcpy(m_buffer.data() + m_used, line, n);
  m_used += n;
  const auto now = std::chrono::steady_clock::now();
  if (now - m_last_flush >= k_flush_interval) flush_locked();
}

Result<std::unique_ptr<FrameTrace>> open_frame_trace(const std::filesystem::path& file, const std::string& iface) {
  if (pcapng::is_pcapng_path(file)) {
    ECUUP_ASSIGN(auto writer, PcapngWriter::shared(file));
    return std::unique_ptr<FrameTrace>(std::make_unique<PcapngCanTrace>(std::move(writer), iface));
  }
  ECUUP_ASSIGN(auto writer, TraceWriter::open(file, iface));
  return std::unique_ptr<FrameTrace>(std::move(writer));
}

namespace {

struct TraceNotices {
  std::mutex mutex;
  std::function<void(const std::string&)> handler;
  std::set<std::string> said;
  std::vector<std::string> waiting;  // made before any handler was installed
};

TraceNotices& trace_notices() {
  static TraceNotices notices;
  return notices;
}

}  // namespace

void set_trace_notice_handler(std::function<void(const std::string&)> handler) {
  auto& n = trace_notices();
  std::lock_guard lock(n.mutex);
  n.handler = std::move(handler);
  if (!n.handler) return;
  for (const auto& message : n.waiting) n.handler(message);
  n.waiting.clear();
}

void trace_notice_once(const std::string& message) {
  auto& n = trace_notices();
  std::lock_guard lock(n.mutex);
  if (!n.said.insert(message).second) return;
  if (n.handler)
    n.handler(message);
  else
    n.waiting.push_back(message);
}

void TraceWriter::flush() {
  std::lock_guard lock(m_mutex);
  flush_locked();
}

void TraceWriter::flush_locked() {
  std::size_t done = 0;
  while (done < m_used) {
    const ssize_t n = ::write(m_fd, m_buffer.data() + done, m_used - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // a full disk loses trace lines, never the transfer they describe
    done += static_cast<std::size_t>(n);
  }
  m_used = 0;
  m_last_flush = std::chrono::steady_clock::now();
}

}  // namespace ecuup
