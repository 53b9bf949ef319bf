#include "transport/isotp.hpp"
#include "util/diag_log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "transport/bus_timing.hpp"
#include "util/cancel.hpp"

namespace ecuup {

namespace {

using Clock = std::chrono::steady_clock;

// N_PCI types (high nibble of the first byte), ISO 15765-2 clause 9.6.
constexpr std::uint8_t k_pci_single = 0x00;
constexpr std::uint8_t k_pci_first = 0x10;
constexpr std::uint8_t k_pci_consecutive = 0x20;
constexpr std::uint8_t k_pci_flow_control = 0x30;
constexpr std::uint8_t k_pci_type_mask = 0xF0;
constexpr std::uint8_t k_pci_low_mask = 0x0F;

enum class FlowStatus : std::uint8_t { continue_to_send = 0, wait = 1, overflow = 2 };

constexpr std::size_t k_classic_dl = 8;
constexpr std::size_t k_classic_sf_max = 7;          // SF_DL in the low nibble
constexpr std::size_t k_sf_escape_header = 2;        // 00 LL (CAN FD, SF_DL > 7)
constexpr std::size_t k_ff_header = 2;               // 1L LL
constexpr std::size_t k_ff_escape_header = 6;        // 10 00 LL LL LL LL
constexpr std::uint32_t k_ff_dl_12bit_max = 0xFFF;
constexpr std::size_t k_max_message = 0xFFFFFFFF;    // FF_DL escape: 32-bit length
constexpr std::size_t k_cf_header = 1;
constexpr std::size_t k_fc_length = 3;
constexpr std::uint8_t k_default_fd_padding = 0xCC;  // FD frames above 8 bytes must be padded to a DLC length
constexpr std::uint8_t k_st_min_max_ms = 0x7F;
constexpr std::uint8_t k_st_min_us_first = 0xF1;
constexpr std::uint8_t k_st_min_us_last = 0xF9;
constexpr std::uint32_t k_normal_fixed_physical = 0x18DA0000;
constexpr std::uint32_t k_normal_fixed_functional = 0x18DB0000;
constexpr std::uint32_t k_max_standard_id = 0x7FF;
constexpr std::uint32_t k_max_extended_id = 0x1FFFFFFF;

std::chrono::microseconds until(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::microseconds>(deadline - Clock::now());
  return left.count() > 0 ? left : std::chrono::microseconds(0);
}

class IsoTpLink final : public DiagLink {
 public:
  IsoTpLink(std::shared_ptr<FrameBus> bus, const IsoTpOptions& options) : m_bus(std::move(bus)), m_options(options) {
    m_tx.id = options.tx_id;
    m_tx.extended = options.extended_ids;
    m_tx.fd = options.fd;
    m_tx.brs = options.fd;
    m_fd_padding = options.padding.value_or(k_default_fd_padding);
  }

  Result<void> send(ByteView message) override;
  Result<Bytes> receive(std::chrono::milliseconds timeout) override;
  std::size_t max_message_size() const override { return k_max_message; }
  std::string describe() const override {
    return fmt::format("ISO-TP tx 0x{:X} rx 0x{:X}{} on {}", m_options.tx_id, m_options.rx_id, m_options.fd ? " (CAN FD)" : "",
                       m_bus->name());
  }

 private:
  // Sets m_tx.len to `used` bytes plus padding: classic frames to 8 when padding is on; frames
  // above 8 bytes (FD) to the next valid DLC length, always padded.
  void finish_frame(std::size_t used);
  Result<void> send_frame(const char* timer);
  // Next frame with our rx id, or Errc::timeout at `deadline` (the caller names the timer).
  Result<CanFrame> next_frame(Clock::time_point deadline);
  Result<void> send_flow_control(FlowStatus status);
  Result<Bytes> receive_segmented(const CanFrame& first);

  std::shared_ptr<FrameBus> m_bus;
  IsoTpOptions m_options;
  CanFrame m_tx;  // reused for every frame we send: no allocation per frame
  std::uint8_t m_fd_padding = k_default_fd_padding;
  std::optional<CanFrame> m_pending;  // an SF/FF that interrupted a reception, to be handled next
};

void IsoTpLink::finish_frame(std::size_t used) {
  std::size_t len = used;
  if (used > k_classic_dl) {
    len = fd_round_up_length(used);
    std::fill(m_tx.data.begin() + static_cast<std::ptrdiff_t>(used), m_tx.data.begin() + static_cast<std::ptrdiff_t>(len),
              m_fd_padding);
  } else if (m_options.padding) {
    len = k_classic_dl;
    std::fill(m_tx.data.begin() + static_cast<std::ptrdiff_t>(used), m_tx.data.begin() + static_cast<std::ptrdiff_t>(len),
              *m_options.padding);
  }
  m_tx.len = static_cast<std::uint8_t>(len);
}

Result<void> IsoTpLink::send_frame(const char* timer) {
  if (diag_log_on(k_diag_frames))
    diag_log(k_diag_frames, fmt::format("CAN {:03X} -> [{}] {}", m_tx.id, m_tx.len, diag_hex(ByteView(m_tx.data.data(), m_tx.len), 64)));
  const auto start = Clock::now();
  auto sent = m_bus->send(m_tx);
  if (!sent) return std::move(sent).error().context("ISO-TP 0x" + fmt::format("{:X}", m_options.tx_id));
  if (Clock::now() - start > m_options.n_as)
    return make_error(Errc::timeout, fmt::format("ISO-TP 0x{:X}: {} expired: frame not sent within {} ms", m_options.tx_id,
                                                 timer, m_options.n_as.count()));
  return success();
}

Result<CanFrame> IsoTpLink::next_frame(Clock::time_point deadline) {
  for (;;) {
    if (interrupt_requested()) return make_error(Errc::interrupted, "ISO-TP: interrupted");
    auto frame = m_bus->receive(until(deadline));
    if (!frame) return std::move(frame).error();
    // A link ignores frames with other ids (other ECUs, other testers on the same bus).
    if (frame->id == m_options.rx_id && frame->extended == m_options.extended_ids && frame->len > 0) {
      if (diag_log_on(k_diag_frames))
        diag_log(k_diag_frames, fmt::format("CAN {:03X} <- [{}] {}", frame->id, frame->len,
                                            diag_hex(ByteView(frame->data.data(), frame->len), 64)));
      return frame;
    }
    if (Clock::now() >= deadline) return make_error(Errc::timeout, "timeout");
  }
}

Result<void> IsoTpLink::send_flow_control(FlowStatus status) {
  m_tx.data[0] = static_cast<std::uint8_t>(k_pci_flow_control | static_cast<std::uint8_t>(status));
  m_tx.data[1] = m_options.block_size;
  m_tx.data[2] = m_options.st_min;
  finish_frame(k_fc_length);
  return send_frame("N_Ar");
}

Result<void> IsoTpLink::send(ByteView message) {
  const std::size_t size = message.size();
  if (size == 0) return make_error(Errc::internal, "ISO-TP: cannot send an empty message");
  if (size > k_max_message) return make_error(Errc::protocol, "ISO-TP: message larger than 4 GiB");
  const std::size_t tx_dl = m_options.tx_dl;

  if (size <= k_classic_sf_max) {
    m_tx.data[0] = static_cast<std::uint8_t>(k_pci_single | size);
    std::memcpy(&m_tx.data[1], message.data(), size);
    finish_frame(size + 1);
    return send_frame("N_As");
  }
  if (tx_dl > k_classic_dl && size <= tx_dl - k_sf_escape_header) {
    m_tx.data[0] = k_pci_single;
    m_tx.data[1] = static_cast<std::uint8_t>(size);
    std::memcpy(&m_tx.data[2], message.data(), size);
    finish_frame(size + k_sf_escape_header);
    return send_frame("N_As");
  }

  if (m_options.target == IsoTpTarget::functional)
    return make_error(Errc::protocol, fmt::format("ISO-TP 0x{:X}: a functional request of {} bytes does not fit a single "
                                                  "frame", m_options.tx_id, size));
  std::size_t offset = 0;
  if (size <= k_ff_dl_12bit_max) {
    m_tx.data[0] = static_cast<std::uint8_t>(k_pci_first | (size >> 8));
    m_tx.data[1] = static_cast<std::uint8_t>(size & 0xFF);
    offset = tx_dl - k_ff_header;
    std::memcpy(&m_tx.data[k_ff_header], message.data(), offset);
  } else {
    // FF_DL above 4095: escape with FF_DL = 0 and a 32-bit length (ISO 15765-2:2016, 9.6.3).
    m_tx.data[0] = k_pci_first;
    m_tx.data[1] = 0;
    for (int i = 0; i < 4; ++i) m_tx.data[2 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(size >> (24 - 8 * i));
    offset = tx_dl - k_ff_escape_header;
    std::memcpy(&m_tx.data[k_ff_escape_header], message.data(), offset);
  }
  m_tx.len = static_cast<std::uint8_t>(tx_dl);
  ECUUP_TRY(send_frame("N_As"));

  std::uint8_t sequence = 1;
  const std::size_t cf_payload = tx_dl - k_cf_header;
  unsigned waits = 0;
  auto fc_deadline = Clock::now() + m_options.n_bs;
  while (offset < size) {
    auto received = next_frame(fc_deadline);
    if (!received) {
      if (received.error().code != Errc::timeout) return std::move(received).error();
      return make_error(Errc::timeout, fmt::format("ISO-TP 0x{:X}: N_Bs expired: no FlowControl within {} ms after {} of {} bytes",
                                                   m_options.tx_id, m_options.n_bs.count(), offset, size));
    }
    const CanFrame& fc = *received;
    if ((fc.data[0] & k_pci_type_mask) != k_pci_flow_control || fc.len < k_fc_length) continue;  // not for the sender
    fc_deadline = Clock::now() + m_options.n_bs;  // N_Bs restarts on every FC, WAIT included
    const auto status = fc.data[0] & k_pci_low_mask;
    if (status == static_cast<std::uint8_t>(FlowStatus::wait)) {
      if (++waits > m_options.max_wait_frames)
        return make_error(Errc::timeout, fmt::format("ISO-TP 0x{:X}: receiver sent more than {} FlowControl WAIT frames",
                                                     m_options.tx_id, m_options.max_wait_frames));
      continue;
    }
    if (status == static_cast<std::uint8_t>(FlowStatus::overflow))
      return make_error(Errc::protocol, fmt::format("ISO-TP 0x{:X}: receiver answered FlowControl OVFLW: message of {} bytes "
                                                    "is too large for it", m_options.tx_id, size));
    if (status != static_cast<std::uint8_t>(FlowStatus::continue_to_send))
      return make_error(Errc::protocol, fmt::format("ISO-TP 0x{:X}: invalid FlowControl flow status {}", m_options.tx_id, status));
    waits = 0;
    const std::uint8_t block_size = fc.data[1];
    const auto separation = decode_st_min(fc.data[2]);
    unsigned in_block = 0;
    Clock::time_point last_sent{};
    while (offset < size) {
      if (interrupt_requested()) return make_error(Errc::interrupted, "ISO-TP: interrupted");
      if (in_block > 0 && separation.count() > 0) std::this_thread::sleep_until(last_sent + separation);
      const std::size_t chunk = std::min(cf_payload, size - offset);
      m_tx.data[0] = static_cast<std::uint8_t>(k_pci_consecutive | sequence);
      std::memcpy(&m_tx.data[k_cf_header], message.data() + offset, chunk);
      if (chunk == cf_payload)
        m_tx.len = static_cast<std::uint8_t>(tx_dl);
      else
        finish_frame(chunk + k_cf_header);
      ECUUP_TRY(send_frame("N_As"));
      if (separation.count() > 0) last_sent = Clock::now();
      offset += chunk;
      sequence = (sequence + 1) & k_pci_low_mask;
      ++in_block;
      if (block_size != 0 && in_block == block_size) break;
    }
    fc_deadline = Clock::now() + m_options.n_bs;
  }
  return success();
}

Result<Bytes> IsoTpLink::receive(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    CanFrame frame;
    if (m_pending) {
      frame = *m_pending;
      m_pending.reset();
    } else {
      auto received = next_frame(deadline);
      if (!received) {
        if (received.error().code != Errc::timeout) return std::move(received).error();
        return make_error(Errc::timeout, fmt::format("ISO-TP 0x{:X}: no message within {} ms", m_options.rx_id, timeout.count()));
      }
      frame = *received;
    }
    const std::uint8_t type = frame.data[0] & k_pci_type_mask;
    if (type == k_pci_single) {
      std::size_t length = frame.data[0] & k_pci_low_mask;
      std::size_t header = 1;
      if (length == 0 && frame.len > k_classic_dl) {  // CAN FD escape: 00 LL
        length = frame.data[1];
        header = k_sf_escape_header;
      } else if (frame.len > k_classic_dl) {
        continue;  // CAN_DL > 8 requires the escape form: ignore
      }
      if (length == 0 || header + length > frame.len) continue;  // malformed: ignore
      return Bytes(frame.data.begin() + static_cast<std::ptrdiff_t>(header),
                   frame.data.begin() + static_cast<std::ptrdiff_t>(header + length));
    }
    if (type == k_pci_first) {
      auto message = receive_segmented(frame);
      if (!message && m_pending) continue;  // a new SF/FF interrupted this one: handle it
      if (message || message.error().code != Errc::not_found) return message;
      continue;  // an invalid first frame, ignored
    }
    // Stray CF or FC outside a transfer: ignore.
  }
}

Result<Bytes> IsoTpLink::receive_segmented(const CanFrame& first) {
  const std::size_t rx_dl = first.len;
  if (rx_dl < k_classic_dl) return make_error(Errc::not_found, "short first frame");
  std::size_t length = static_cast<std::size_t>(first.data[0] & k_pci_low_mask) << 8 | first.data[1];
  std::size_t header = k_ff_header;
  if (length == 0) {
    length = static_cast<std::size_t>(first.data[2]) << 24 | static_cast<std::size_t>(first.data[3]) << 16 |
             static_cast<std::size_t>(first.data[4]) << 8 | first.data[5];
    header = k_ff_escape_header;
    if (length <= k_ff_dl_12bit_max) return make_error(Errc::not_found, "escape first frame with a 12-bit length");
  }
  // A first frame for a message that would fit a single frame is invalid (ISO 15765-2 9.6.3.2).
  const std::size_t sf_max = rx_dl > k_classic_dl ? rx_dl - k_sf_escape_header : k_classic_sf_max;
  if (length <= sf_max) return make_error(Errc::not_found, "first frame for a single-frame length");
  if (length > m_options.max_rx_message) {
    ECUUP_TRY(send_flow_control(FlowStatus::overflow));
    return make_error(Errc::protocol, fmt::format("ISO-TP 0x{:X}: incoming message of {} bytes exceeds the limit of {}; "
                                                  "answered FlowControl OVFLW", m_options.rx_id, length,
                                                  m_options.max_rx_message));
  }
  Bytes message;
  message.reserve(length);
  const std::size_t first_chunk = std::min(length, rx_dl - header);
  message.insert(message.end(), first.data.begin() + static_cast<std::ptrdiff_t>(header),
                 first.data.begin() + static_cast<std::ptrdiff_t>(header + first_chunk));
  ECUUP_TRY(send_flow_control(FlowStatus::continue_to_send));

  std::uint8_t expected = 1;
  unsigned in_block = 0;
  while (message.size() < length) {
    auto received = next_frame(Clock::now() + m_options.n_cr);
    if (!received) {
      if (received.error().code != Errc::timeout) return std::move(received).error();
      return make_error(Errc::timeout, fmt::format("ISO-TP 0x{:X}: N_Cr expired: no ConsecutiveFrame within {} ms after {} of {} bytes",
                                                   m_options.rx_id, m_options.n_cr.count(), message.size(), length));
    }
    const CanFrame& frame = *received;
    const std::uint8_t type = frame.data[0] & k_pci_type_mask;
    if (type == k_pci_single || type == k_pci_first) {
      // A new message aborts the one in progress (ISO 15765-2 9.8.3, unexpected N_PDU).
      m_pending = frame;
      return make_error(Errc::protocol, "reception interrupted by a new message");
    }
    if (type != k_pci_consecutive) continue;
    const std::uint8_t sequence = frame.data[0] & k_pci_low_mask;
    if (sequence != expected)
      return make_error(Errc::protocol, fmt::format("ISO-TP 0x{:X}: wrong sequence number {} (expected {}) after {} of {} bytes",
                                                    m_options.rx_id, sequence, expected, message.size(), length));
    if (frame.len <= k_cf_header) continue;
    const std::size_t chunk = std::min<std::size_t>(length - message.size(), frame.len - k_cf_header);
    message.insert(message.end(), frame.data.begin() + k_cf_header,
                   frame.data.begin() + static_cast<std::ptrdiff_t>(k_cf_header + chunk));
    expected = (expected + 1) & k_pci_low_mask;
    if (m_options.block_size != 0 && ++in_block == m_options.block_size && message.size() < length) {
      in_block = 0;
      ECUUP_TRY(send_flow_control(FlowStatus::continue_to_send));
    }
  }
  return message;
}

bool valid_announced_st_min(std::uint8_t st_min) {
  return st_min <= k_st_min_max_ms || (st_min >= k_st_min_us_first && st_min <= k_st_min_us_last);
}

}  // namespace

std::chrono::microseconds decode_st_min(std::uint8_t st_min) {
  if (st_min <= k_st_min_max_ms) return std::chrono::milliseconds(st_min);
  if (st_min >= k_st_min_us_first && st_min <= k_st_min_us_last)
    return std::chrono::microseconds(100 * (st_min - k_st_min_us_first + 1));
  // Reserved values: the sender shall use the longest STmin, 0x7F (ISO 15765-2 9.6.5.5).
  return std::chrono::milliseconds(k_st_min_max_ms);
}

Result<IsoTpOptions> resolve_isotp_options(const IsoTpOptions& options) {
  IsoTpOptions out = options;
  if (options.addressing == IsoTpAddressing::normal_fixed) {
    out.extended_ids = true;
    const std::uint32_t tx_base =
        options.target == IsoTpTarget::functional ? k_normal_fixed_functional : k_normal_fixed_physical;
    out.tx_id = tx_base | static_cast<std::uint32_t>(options.target_address) << 8 | options.source_address;
    out.rx_id = k_normal_fixed_physical | static_cast<std::uint32_t>(options.source_address) << 8 | options.target_address;
  }
  const std::uint32_t max_id = out.extended_ids ? k_max_extended_id : k_max_standard_id;
  auto bad = [](const std::string& what) { return make_error(Errc::config, "ISO-TP options: " + what); };
  if (out.tx_id > max_id || out.rx_id > max_id)
    return bad(fmt::format("id 0x{:X}/0x{:X} does not fit {}-bit CAN ids", out.tx_id, out.rx_id, out.extended_ids ? 29 : 11));
  if (out.tx_id == out.rx_id) return bad(fmt::format("tx and rx id are both 0x{:X}", out.tx_id));
  if (!out.fd && out.tx_dl != k_classic_dl) return bad(fmt::format("tx_dl {} needs CAN FD", out.tx_dl));
  if (out.tx_dl < k_classic_dl || !valid_frame_length(out.tx_dl, true))
    return bad(fmt::format("tx_dl {} is not 8, 12, 16, 20, 24, 32, 48 or 64", out.tx_dl));
  if (!valid_announced_st_min(out.st_min)) return bad(fmt::format("st_min 0x{:02X} is a reserved value", out.st_min));
  if (out.n_as.count() <= 0 || out.n_bs.count() <= 0 || out.n_cr.count() <= 0) return bad("timeouts must be positive");
  if (out.max_rx_message == 0) return bad("max_rx_message is 0");
  return out;
}

Result<std::unique_ptr<DiagLink>> make_isotp_link(std::shared_ptr<FrameBus> bus, const IsoTpOptions& options) {
  if (!bus) return make_error(Errc::config, "ISO-TP: no bus");
  ECUUP_ASSIGN(IsoTpOptions resolved, resolve_isotp_options(options));
  return std::unique_ptr<DiagLink>(std::make_unique<IsoTpLink>(std::move(bus), resolved));
}

}  // namespace ecuup
