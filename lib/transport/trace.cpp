#include "transport/trace.hpp"

#include <cerrno>
#include <cstring>

namespace ecuup {

namespace {

constexpr char k_hex_digits[] = "0123456789ABCDEF";
constexpr auto k_flush_interval = std::chrono::milliseconds(200);
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

Result<std::unique_ptr<TraceWriter>> TraceWriter::open(const std::filesystem::path& file, std::string iface) {
  std::FILE* f = std::fopen(file.c_str(), "w");
  if (f == nullptr)
    return make_error(Errc::io, "cannot open trace file " + file.string() + ": " + std::strerror(errno));
  if (iface.size() > k_max_trace_iface) iface.resize(k_max_trace_iface);
  return std::unique_ptr<TraceWriter>(new TraceWriter(f, std::move(iface)));
}

TraceWriter::~TraceWriter() { std::fclose(m_file); }

void TraceWriter::write(const CanFrame& frame, std::chrono::system_clock::time_point when) {
  char buf[k_max_trace_line];
  std::size_t n = format_candump_line(buf, frame, when, m_iface);
  buf[n++] = '\n';
  std::lock_guard lock(m_mutex);
  std::fwrite(buf, 1, n, m_file);
  const auto now = std::chrono::steady_clock::now();
  if (now - m_last_flush >= k_flush_interval) {
    std::fflush(m_file);
    m_last_flush = now;
  }
}

void TraceWriter::flush() {
  std::lock_guard lock(m_mutex);
  std::fflush(m_file);
  m_last_flush = std::chrono::steady_clock::now();
}

}  // namespace ecuup
