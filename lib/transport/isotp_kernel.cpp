#include "transport/isotp_kernel.hpp"

#include <fmt/format.h>
#include <linux/can.h>
#include <linux/can/isotp.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "transport/bus.hpp"
#include "transport/socketcan_bus.hpp"

namespace ecuup {

namespace {


// The kernel reports ISO-TP protocol failures through errno on read/write.
Error kernel_error(const std::string& where, int error_number) {
  switch (error_number) {
    case ETIMEDOUT:
    case ECOMM:  // N_As / N_Bs: no flow control
      return make_error(Errc::timeout, where + ": " + std::strerror(error_number) + " (N_Bs/N_Cr timeout in the kernel)");
    case EILSEQ:  // wrong sequence number
    case EBADMSG:
    case EOVERFLOW:
    case EMSGSIZE:
      return make_error(Errc::protocol, where + ": " + std::strerror(error_number));
    default:
      return make_error(Errc::io, where + ": " + std::strerror(error_number));
  }
}

// The kernel does the ISO-TP framing, so the link never sees a frame. For --trace, a CAN_RAW socket
// on the same interface, filtered to the link's two ids, sees them all (the kernel echoes a frame
// sent by one socket to the host's other sockets) and its traced bus writes them.
class FrameTap {
 public:
  explicit FrameTap(std::shared_ptr<FrameBus> traced) : m_bus(std::move(traced)), m_thread([this] { run(); }) {}
  ~FrameTap() {
    m_stop = true;
    m_thread.join();
  }
  FrameTap(const FrameTap&) = delete;
  FrameTap& operator=(const FrameTap&) = delete;

 private:
  static constexpr std::chrono::milliseconds k_poll{50};
  void run() {
    while (!m_stop) (void)m_bus->receive(k_poll);
    // The last answer's frames may still be queued when the link closes: trace them too.
    while (m_bus->receive(std::chrono::microseconds(0))) {
    }
  }
  std::shared_ptr<FrameBus> m_bus;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;  // last: starts once the members it uses exist
};

class KernelIsoTpLink final : public DiagLink {
 public:
  KernelIsoTpLink(int fd, std::string iface, const IsoTpOptions& options, std::unique_ptr<FrameTap> tap)
      : m_fd(fd), m_iface(std::move(iface)), m_options(options),
        m_buffer(std::min<std::size_t>(options.max_rx_message, k_kernel_isotp_max_message) + 1), m_tap(std::move(tap)) {}
  ~KernelIsoTpLink() override {
    ::close(m_fd);
    m_tap.reset();
  }
  KernelIsoTpLink(const KernelIsoTpLink&) = delete;
  KernelIsoTpLink& operator=(const KernelIsoTpLink&) = delete;

  Result<void> send(ByteView message) override {
    for (;;) {
      const ssize_t n = ::write(m_fd, message.data(), message.size());
      if (n == static_cast<ssize_t>(message.size())) return success();
      if (n < 0 && errno == EINTR) continue;
      return kernel_error(describe() + ": send", n < 0 ? errno : EIO);
    }
  }

  Result<Bytes> receive(std::chrono::milliseconds timeout) override {
    // The kernel hands over whole messages only: one whose first frame came within `timeout` may
    // still be arriving (a 4095-byte answer is 585 frames), so it gets N_Cr more. A zero timeout
    // (the UDS client draining stale answers) takes only what is already there.
    const auto extra = timeout.count() > 0 ? m_options.n_cr : std::chrono::milliseconds(0);
    const auto deadline = std::chrono::steady_clock::now() + timeout + extra;
    for (;;) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd pfd{m_fd, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return kernel_error(describe() + ": poll", errno);
      if (ready == 0)
        return make_error(Errc::timeout,
                          fmt::format("{}: no message within {} ms", describe(), (timeout + extra).count()));
      const ssize_t n = ::recv(m_fd, m_buffer.data(), m_buffer.size(), MSG_TRUNC);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return kernel_error(describe() + ": receive", errno);
      if (static_cast<std::size_t>(n) >= m_buffer.size())
        return make_error(Errc::protocol, fmt::format("{}: message of {} bytes exceeds the limit of {}", describe(), n,
                                                      m_buffer.size() - 1));
      return Bytes(m_buffer.begin(), m_buffer.begin() + n);
    }
  }

  std::size_t max_message_size() const override { return k_kernel_isotp_safe_message; }
  std::string describe() const override {
    return fmt::format("kernel ISO-TP tx 0x{:X} rx 0x{:X} on {}", m_options.tx_id, m_options.rx_id, m_iface);
  }

 private:
  int m_fd;
  std::string m_iface;
  IsoTpOptions m_options;
  std::vector<std::uint8_t> m_buffer;
  std::unique_ptr<FrameTap> m_tap;  // only with a trace
};

Result<std::unique_ptr<FrameTap>> open_tap(const std::string& iface, const IsoTpOptions& options,
                                           const std::filesystem::path& trace_file) {
  ECUUP_ASSIGN(auto raw, SocketCanBus::open(iface));
  const std::uint32_t ids[] = {options.tx_id, options.rx_id};
  ECUUP_TRY(raw->receive_only(ids, options.extended_ids));
  ECUUP_ASSIGN(auto traced, make_traced_bus(std::move(raw), trace_file, iface));
  return std::make_unique<FrameTap>(std::move(traced));
}

}  // namespace

Result<std::unique_ptr<DiagLink>> make_kernel_isotp_link(const std::string& iface, const IsoTpOptions& options,
                                                         const std::filesystem::path& trace_file) {
  ECUUP_ASSIGN(IsoTpOptions resolved, resolve_isotp_options(options));
  const std::string where = "kernel ISO-TP on " + iface;
  if (iface.empty() || iface.size() >= IFNAMSIZ) return make_error(Errc::config, where + ": bad interface name");
  const int fd = ::socket(PF_CAN, SOCK_DGRAM | SOCK_CLOEXEC, CAN_ISOTP);
  if (fd < 0) {
    Error error = can_socket_error((where + ": CAN_ISOTP socket").c_str(), errno);
    if (error.code == Errc::unsupported) error.message += " (needs the can-isotp module)";
    return error;
  }
  auto fail = [&](Error error) -> Result<std::unique_ptr<DiagLink>> {
    ::close(fd);
    return error;
  };
  auto set = [&](int option, const void* value, socklen_t size, const char* name) -> Result<void> {
    if (::setsockopt(fd, SOL_CAN_ISOTP, option, value, size) == 0) return success();
    return make_error(Errc::unsupported, where + ": " + name + ": " + std::strerror(errno));
  };

  can_isotp_options opts{};
  // Report transmission errors from write() itself rather than the next call.
  opts.flags = CAN_ISOTP_WAIT_TX_DONE;
  // Functional requests go to many ECUs: single frames, no flow control expected.
  if (resolved.target == IsoTpTarget::functional) opts.flags |= CAN_ISOTP_SF_BROADCAST;
  if (resolved.padding) {
    opts.flags |= CAN_ISOTP_TX_PADDING;
    opts.txpad_content = *resolved.padding;
  }
  // No extra gap between our frames beyond the receiver's STmin (0 would mean the kernel's 50 µs
  // default; TXTIME_ZERO needs Linux 5.18 or later, older kernels read it as ~4.3 s).
  opts.frame_txtime = CAN_ISOTP_FRAME_TXTIME_ZERO;
  if (auto r = set(CAN_ISOTP_OPTS, &opts, sizeof opts, "CAN_ISOTP_OPTS"); !r) return fail(std::move(r).error());

  can_isotp_fc_options fc{};
  fc.bs = resolved.block_size;
  fc.stmin = resolved.st_min;
  fc.wftmax = resolved.max_wait_frames;
  if (auto r = set(CAN_ISOTP_RECV_FC, &fc, sizeof fc, "CAN_ISOTP_RECV_FC"); !r) return fail(std::move(r).error());

  if (resolved.fd) {
    can_isotp_ll_options ll{};
    ll.mtu = CANFD_MTU;
    ll.tx_dl = resolved.tx_dl;
    ll.tx_flags = CANFD_BRS;
    if (auto r = set(CAN_ISOTP_LL_OPTS, &ll, sizeof ll, "CAN_ISOTP_LL_OPTS"); !r) return fail(std::move(r).error());
  }

  const unsigned index = ::if_nametoindex(iface.c_str());
  if (index == 0) return fail(make_error(Errc::not_found, where + ": no such CAN interface"));
  sockaddr_can addr{};
  addr.can_family = AF_CAN;
  addr.can_ifindex = static_cast<int>(index);
  const canid_t flag = resolved.extended_ids ? CAN_EFF_FLAG : 0;
  addr.can_addr.tp.tx_id = resolved.tx_id | flag;
  addr.can_addr.tp.rx_id = resolved.rx_id | flag;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return fail(make_error(Errc::io, where + ": bind: " + std::strerror(errno)));
  std::unique_ptr<FrameTap> tap;
  if (!trace_file.empty()) {
    auto opened = open_tap(iface, resolved, trace_file);
    if (!opened) return fail(std::move(opened).error().context(where + ": trace"));
    tap = std::move(opened).value();
  }
  return std::unique_ptr<DiagLink>(std::make_unique<KernelIsoTpLink>(fd, iface, resolved, std::move(tap)));
}

}  // namespace ecuup
