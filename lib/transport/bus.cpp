#include "transport/bus.hpp"

#include <fmt/format.h>
#include <linux/can.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "transport/bus_timing.hpp"
#include "transport/socketcan_bus.hpp"
#include "transport/trace.hpp"
#include "transport/udp_bus.hpp"

namespace ecuup {

static_assert(sizeof(can_frame) == k_can_frame_image_size);
static_assert(sizeof(canfd_frame) == k_canfd_frame_image_size);

namespace {

constexpr std::uint32_t k_max_standard_id = CAN_SFF_MASK;
constexpr std::uint32_t k_max_extended_id = CAN_EFF_MASK;
// The most oversleep the pacing model credits back (a process descheduled for longer than this
// loses the time, as a real bus would idle).
constexpr auto k_max_pacing_credit = std::chrono::milliseconds(50);
// How long after the bus fell free (plus the credit) a sender still counts as back to back: the
// caller's own work between frames (ISO-TP bookkeeping, a trace line).
constexpr auto k_back_to_back_slack = std::chrono::microseconds(500);
constexpr std::size_t k_memory_bus_queue_limit = 1 << 16;  // frames; beyond this the oldest are dropped

Result<std::uint16_t> parse_port(std::string_view text, const std::string& spec) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value > 65535)
    return make_error(Errc::config, "bus \"" + spec + "\": bad port \"" + std::string(text) + "\"");
  return static_cast<std::uint16_t>(value);
}

class TracedBus final : public FrameBus {
 public:
  TracedBus(std::shared_ptr<FrameBus> bus, std::unique_ptr<FrameTrace> trace)
      : m_bus(std::move(bus)), m_trace(std::move(trace)) {}
  Result<void> send(const CanFrame& frame) override {
    auto sent = m_bus->send(frame);
    if (sent) m_trace->write(frame, std::chrono::system_clock::now());
    return sent;
  }
  Result<CanFrame> receive(std::chrono::microseconds timeout) override {
    auto frame = m_bus->receive(timeout);
    if (frame)
      m_trace->write(*frame, std::chrono::system_clock::now());
    else
      m_trace->flush();  // the bus went quiet: a good moment to make the trace complete on disk
    return frame;
  }
  std::string name() const override { return m_bus->name(); }

 private:
  std::shared_ptr<FrameBus> m_bus;
  std::unique_ptr<FrameTrace> m_trace;
};

class PacedBus final : public FrameBus {
 public:
  PacedBus(std::shared_ptr<FrameBus> bus, std::uint32_t bitrate, std::uint32_t data_bitrate)
      : m_bus(std::move(bus)), m_bitrate(bitrate), m_data_bitrate(data_bitrate) {}
  Result<void> send(const CanFrame& frame) override {
    const auto duration = frame_duration(frame, m_bitrate, m_data_bitrate);
    const auto now = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point end;
    {
      std::lock_guard lock(m_mutex);
      // Time we overslept on the previous frame is ours, not the caller's: without the credit,
      // sleep jitter would stretch every gap and the long-run rate would fall below the model.
      // It only counts for a frame that follows back to back: after a pause the bus was idle and
      // this frame starts now.
      const bool back_to_back = now <= m_bus_free_at + m_credit + k_back_to_back_slack;
      const auto start = back_to_back ? std::max(m_bus_free_at, now - m_credit) : now;
      end = start + duration;
      m_bus_free_at = end;
    }
    // The frame reaches the other nodes when its last bit has been sent.
    if (end > now) std::this_thread::sleep_until(end);
    auto sent = m_bus->send(frame);
    const auto late = std::chrono::steady_clock::now() - end;
    std::lock_guard lock(m_mutex);
    m_credit = std::clamp<std::chrono::steady_clock::duration>(late, std::chrono::steady_clock::duration::zero(),
                                                               k_max_pacing_credit);
    return sent;
  }
  Result<CanFrame> receive(std::chrono::microseconds timeout) override { return m_bus->receive(timeout); }
  std::string name() const override { return m_bus->name(); }

 private:
  std::shared_ptr<FrameBus> m_bus;
  std::uint32_t m_bitrate;
  std::uint32_t m_data_bitrate;
  std::mutex m_mutex;
  std::chrono::steady_clock::time_point m_bus_free_at{};
  std::chrono::steady_clock::duration m_credit{};
};

struct MemoryQueue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<CanFrame> frames;
};

class MemoryBus final : public FrameBus {
 public:
  MemoryBus(std::shared_ptr<MemoryQueue> in, std::shared_ptr<MemoryQueue> out, std::string name)
      : m_in(std::move(in)), m_out(std::move(out)), m_name(std::move(name)) {}
  Result<void> send(const CanFrame& frame) override {
    {
      std::lock_guard lock(m_out->mutex);
      if (m_out->frames.size() >= k_memory_bus_queue_limit) m_out->frames.pop_front();
      m_out->frames.push_back(frame);
    }
    m_out->ready.notify_one();
    return success();
  }
  Result<CanFrame> receive(std::chrono::microseconds timeout) override {
    std::unique_lock lock(m_in->mutex);
    if (!m_in->ready.wait_for(lock, timeout, [&] { return !m_in->frames.empty(); }))
      return make_error(Errc::timeout, m_name + ": no frame received");
    CanFrame frame = m_in->frames.front();
    m_in->frames.pop_front();
    return frame;
  }
  std::string name() const override { return m_name; }

 private:
  std::shared_ptr<MemoryQueue> m_in;
  std::shared_ptr<MemoryQueue> m_out;
  std::string m_name;
};

Result<void> check_frame(const CanFrame& frame) {
  if (frame.id > (frame.extended ? k_max_extended_id : k_max_standard_id))
    return make_error(Errc::protocol, fmt::format("CAN id 0x{:X} out of range for {}-bit ids", frame.id, frame.extended ? 29 : 11));
  if (!valid_frame_length(frame.len, frame.fd))
    return make_error(Errc::protocol, "invalid CAN" + std::string(frame.fd ? " FD" : "") + " frame length " +
                                          std::to_string(frame.len));
  return success();
}

}  // namespace

Result<std::size_t> SocketReceiver::receive(std::span<std::uint8_t> buffer, std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono;
  for (;;) {
    const auto left = ceil<microseconds>(deadline - steady_clock::now());
    int flags = MSG_TRUNC;
    if (left.count() <= 0) {
      flags |= MSG_DONTWAIT;
    } else if (m_timeout.count() == 0 || m_timeout > left || m_timeout < left - std::max<microseconds>(1ms, left / 8)) {
      timeval tv{};
      tv.tv_sec = static_cast<time_t>(left.count() / 1'000'000);
      tv.tv_usec = static_cast<suseconds_t>(left.count() % 1'000'000);
      if (::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return make_error(Errc::io, std::string("SO_RCVTIMEO: ") + std::strerror(errno));
      m_timeout = left;
    }
    const ssize_t n = ::recv(m_fd, buffer.data(), buffer.size(), flags);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (left.count() <= 0 || steady_clock::now() >= deadline) return make_error(Errc::timeout, "no frame received");
      continue;  // the socket's timeout was shorter than the time left
    }
    // A queued ICMP error from an earlier datagram; not ours to report on a bus.
    if (errno == ECONNREFUSED) continue;
    return make_error(Errc::io, std::string("receive: ") + std::strerror(errno));
  }
}

Result<std::size_t> encode_frame_image(const CanFrame& frame, FrameImage& out) {
  ECUUP_TRY(check_frame(frame));
  const canid_t id = frame.id | (frame.extended ? CAN_EFF_FLAG : 0u);
  if (frame.fd) {
    canfd_frame cf{};
    cf.can_id = id;
    cf.len = frame.len;
    // The kernel marks every FD frame it hands out with CANFD_FDF (since CAN XL support).
    cf.flags = static_cast<__u8>(CANFD_FDF | (frame.brs ? CANFD_BRS : 0));
    std::memcpy(cf.data, frame.data.data(), frame.len);
    std::memcpy(out.data(), &cf, sizeof cf);
    return sizeof cf;
  }
  can_frame cf{};
  cf.can_id = id;
  cf.len = frame.len;
  std::memcpy(cf.data, frame.data.data(), frame.len);
  std::memcpy(out.data(), &cf, sizeof cf);
  return sizeof cf;
}

Result<CanFrame> decode_frame_image(std::span<const std::uint8_t> image) {
  CanFrame frame;
  canid_t id = 0;
  if (image.size() == sizeof(canfd_frame)) {
    canfd_frame cf;
    std::memcpy(&cf, image.data(), sizeof cf);
    id = cf.can_id;
    frame.fd = true;
    frame.brs = (cf.flags & CANFD_BRS) != 0;
    frame.len = cf.len;
    if (frame.len > CANFD_MAX_DLEN) return make_error(Errc::protocol, "CAN FD frame image with length > 64");
    std::memcpy(frame.data.data(), cf.data, frame.len);
  } else if (image.size() == sizeof(can_frame)) {
    can_frame cf;
    std::memcpy(&cf, image.data(), sizeof cf);
    id = cf.can_id;
    frame.len = cf.len;
    if (frame.len > CAN_MAX_DLEN) return make_error(Errc::protocol, "CAN frame image with length > 8");
    std::memcpy(frame.data.data(), cf.data, frame.len);
  } else {
    return make_error(Errc::protocol, "datagram of " + std::to_string(image.size()) +
                                          " bytes is neither a can_frame (16) nor a canfd_frame (72)");
  }
  if ((id & (CAN_RTR_FLAG | CAN_ERR_FLAG)) != 0) return make_error(Errc::protocol, "RTR or error frame");
  frame.extended = (id & CAN_EFF_FLAG) != 0;
  frame.id = id & (frame.extended ? CAN_EFF_MASK : CAN_SFF_MASK);
  ECUUP_TRY(check_frame(frame));
  return frame;
}

Result<std::shared_ptr<FrameBus>> make_traced_bus(std::shared_ptr<FrameBus> bus, const std::filesystem::path& trace_file,
                                                  const std::string& iface) {
  ECUUP_ASSIGN(auto writer, open_frame_trace(trace_file, iface));
  return std::shared_ptr<FrameBus>(std::make_shared<TracedBus>(std::move(bus), std::move(writer)));
}

std::shared_ptr<FrameBus> make_paced_bus(std::shared_ptr<FrameBus> bus, std::uint32_t bitrate, std::uint32_t data_bitrate) {
  return std::make_shared<PacedBus>(std::move(bus), bitrate, data_bitrate);
}

std::pair<std::shared_ptr<FrameBus>, std::shared_ptr<FrameBus>> make_memory_bus_pair() {
  auto a = std::make_shared<MemoryQueue>();
  auto b = std::make_shared<MemoryQueue>();
  return {std::make_shared<MemoryBus>(a, b, "memory:a"), std::make_shared<MemoryBus>(b, a, "memory:b")};
}

Result<std::shared_ptr<FrameBus>> open_frame_bus(const std::string& spec, const BusOptions& options) {
  std::shared_ptr<FrameBus> bus;
  std::string iface;
  const std::string_view view(spec);
  if (view.starts_with("udp:")) {
    const std::string_view rest = view.substr(4);
    const auto colon = rest.find(':');
    if (colon == std::string_view::npos)
      return make_error(Errc::config, "bus \"" + spec + "\": expected udp:LOCALPORT:REMOTEPORT");
    ECUUP_ASSIGN(const std::uint16_t local, parse_port(rest.substr(0, colon), spec));
    ECUUP_ASSIGN(const std::uint16_t remote, parse_port(rest.substr(colon + 1), spec));
    if (remote == 0) return make_error(Errc::config, "bus \"" + spec + "\": remote port 0");
    ECUUP_ASSIGN(auto udp, UdpBus::open(local, remote));
    iface = "udp" + std::to_string(udp->local_port());
    bus = std::move(udp);
  } else if (view.starts_with("socketcan:")) {
    iface = spec.substr(10);
    ECUUP_ASSIGN(auto can, SocketCanBus::open(iface));
    bus = std::move(can);
  } else {
    return make_error(Errc::config, "bus \"" + spec + "\": expected udp:LOCALPORT:REMOTEPORT or socketcan:IFACE");
  }
  if (!options.trace_file.empty()) {
    auto traced = make_traced_bus(std::move(bus), options.trace_file, iface);
    if (!traced) return std::move(traced).error().context("bus \"" + spec + "\"");
    bus = std::move(traced).value();
  }
  if (options.bitrate > 0) bus = make_paced_bus(std::move(bus), options.bitrate, options.data_bitrate);
  return bus;
}

}  // namespace ecuup
