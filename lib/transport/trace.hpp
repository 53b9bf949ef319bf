#pragma once
// Bus traces (--trace FILE): FrameTrace is where a traced bus puts its frames, a candump log or
// (FILE.pcapng) a pcapng interface, see transport/pcapng.hpp.
// candump log format, as `candump -l` writes it and canplayer/Wireshark read it:
// "(SECONDS.MICROS) IFACE ID#DATA", FD frames "ID##<flags hex digit>DATA"; ids are 3 hex digits
// (11-bit) or 8 (29-bit), data upper-case hex without separators, no direction token.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "transport/frame_bus.hpp"
#include "util/result.hpp"

namespace ecuup {

inline constexpr std::size_t k_max_trace_iface = 32;
inline constexpr std::size_t k_max_trace_line = 256;  // bounds every line format_candump_line writes

// Formats one line without the newline into `out` (at least k_max_trace_line chars); returns its
// length. No allocation: the trace writer calls it for every frame.
std::size_t format_candump_line(char* out, const CanFrame& frame, std::chrono::system_clock::time_point when,
                                std::string_view iface);
std::string candump_line(const CanFrame& frame, std::chrono::system_clock::time_point when, std::string_view iface);

// Where a traced bus puts its frames: a candump log (TraceWriter) or a pcapng interface.
class FrameTrace {
 public:
  virtual ~FrameTrace() = default;
  virtual void write(const CanFrame& frame, std::chrono::system_clock::time_point when) = 0;
  // Makes what was written so far complete on disk.
  virtual void flush() = 0;
};

// The trace --trace FILE asks for: pcapng (a LINKTYPE_CAN_SOCKETCAN interface named `iface` in
// the process's shared writer of FILE) when FILE ends in .pcapng, else a candump log.
Result<std::unique_ptr<FrameTrace>> open_frame_trace(const std::filesystem::path& file, const std::string& iface);

// A run's --trace FILE starts empty (unless --trace-append): the links of the run then append to it.
Result<void> start_trace_file(const std::filesystem::path& file, bool append);

// Remarks about tracing that a person should see once per process ("DoIP needs a .pcapng trace").
// Library code cannot print: the api layer installs a handler (Progress::note). A remark made
// before any handler is kept and handed to the first one.
void set_trace_notice_handler(std::function<void(const std::string&)> handler);
void trace_notice_once(const std::string& message);

// Appends lines to a file (O_APPEND: links opened one after another, or side by side, share one
// trace). Thread-safe. Buffered and written in whole lines, at most every 200 ms, when the buffer
// fills and on close, so tracing a fast transfer costs no syscall per frame.
class TraceWriter final : public FrameTrace {
 public:
  static Result<std::unique_ptr<TraceWriter>> open(const std::filesystem::path& file, std::string iface);
  ~TraceWriter() override;
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  void write(const CanFrame& frame,
             std::chrono::system_clock::time_point when = std::chrono::system_clock::now()) override;
  void flush() override;

 private:
  TraceWriter(int fd, std::string iface);
  void flush_locked();
  std::mutex m_mutex;
  int m_fd;
  std::string m_iface;
  std::vector<char> m_buffer;
  std::size_t m_used = 0;
  std::chrono::steady_clock::time_point m_last_flush = std::chrono::steady_clock::now();
};

}  // namespace ecuup
