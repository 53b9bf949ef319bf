// libFuzzer target: ISO-TP (transport/isotp.hpp) over a fake FrameBus whose frames come from the
// input, as an ECU (or anything else on the bus) would send them: receptions of messages and the
// flow control of our own sends, with options the input picks. Received messages keep to the
// limits; a send that succeeds put exactly the message on the bus, in valid frames. The first
// bytes also go through the Linux frame images the buses decode.
#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "fuzz_support.hpp"
#include "transport/bus.hpp"
#include "transport/bus_timing.hpp"
#include "transport/isotp.hpp"

using namespace ecuup;
using ecuup::fuzz::require;

namespace {

constexpr std::uint8_t k_pci_flow_control = 0x30;
constexpr std::array<std::uint8_t, 8> k_fd_lengths = {8, 12, 16, 20, 24, 32, 48, 64};

// Frames from the front of the input: a control byte (bit 0: another id than ours, bit 1: CAN FD,
// the rest: the length) and the data. Once the input is spent the bus stays silent.
class FuzzBus final : public FrameBus {
 public:
  FuzzBus(FuzzedDataProvider& input, std::uint32_t rx_id, bool extended)
      : m_input(input), m_rx_id(rx_id), m_extended(extended) {}

  Result<void> send(const CanFrame& frame) override {
    m_sent.push_back(frame);
    return success();
  }

  Result<CanFrame> receive(std::chrono::microseconds) override {
    if (m_input.remaining_bytes() == 0) return make_error(Errc::timeout, "fuzz input spent");
    const auto control = m_input.ConsumeBytes<std::uint8_t>(1).front();
    CanFrame frame;
    frame.id = control & 1 ? m_rx_id ^ 0x1 : m_rx_id;
    frame.extended = m_extended;
    frame.fd = (control & 2) != 0;
    frame.brs = frame.fd;
    frame.len = frame.fd ? k_fd_lengths[(control >> 2) % k_fd_lengths.size()] : static_cast<std::uint8_t>((control >> 2) % 9);
    const auto bytes = m_input.ConsumeBytes<std::uint8_t>(frame.len);
    std::copy(bytes.begin(), bytes.end(), frame.data.begin());
    if (frame.len >= 3 && (frame.data[0] & 0xF0) == k_pci_flow_control) {
      // Any STmin is honoured by sleeping between our frames (up to 127 ms each): check its
      // decoding, then let the frames go back to back.
      require(decode_st_min(frame.data[2]) <= std::chrono::milliseconds(127));
      frame.data[2] = 0;
    }
    return frame;
  }

  std::string name() const override { return "fuzz"; }
  std::vector<CanFrame>& sent() { return m_sent; }

 private:
  FuzzedDataProvider& m_input;
  std::uint32_t m_rx_id;
  bool m_extended;
  std::vector<CanFrame> m_sent;
};

// The message our frames carry, read back as a receiver would.
Bytes reassemble(const std::vector<CanFrame>& frames) {
  Bytes out;
  std::size_t want = 0;
  for (const auto& f : frames) {
    const std::uint8_t type = f.data[0] >> 4;
    if (type == 0) {
      const bool escape = f.len > 8;
      const std::size_t header = escape ? 2 : 1;
      const std::size_t length = escape ? f.data[1] : f.data[0] & 0x0F;
      require(header + length <= f.len);
      return Bytes(f.data.begin() + static_cast<std::ptrdiff_t>(header),
                   f.data.begin() + static_cast<std::ptrdiff_t>(header + length));
    }
    if (type == 1) {
      want = static_cast<std::size_t>(f.data[0] & 0x0F) << 8 | f.data[1];
      std::size_t header = 2;
      if (want == 0) {
        want = std::size_t{f.data[2]} << 24 | std::size_t{f.data[3]} << 16 | std::size_t{f.data[4]} << 8 | f.data[5];
        header = 6;
      }
      out.assign(f.data.begin() + static_cast<std::ptrdiff_t>(header), f.data.begin() + f.len);
    } else if (type == 2) {
      out.insert(out.end(), f.data.begin() + 1, f.data.begin() + f.len);
    }
  }
  if (out.size() > want) out.resize(want);
  return out;
}

void check_frame_images(const std::uint8_t* data, std::size_t size) {
  for (std::size_t image_size : {k_can_frame_image_size, k_canfd_frame_image_size}) {
    if (size < image_size) continue;
    auto frame = decode_frame_image(std::span<const std::uint8_t>(data, image_size));
    if (!frame) continue;
    require(valid_frame_length(frame->len, frame->fd));
    FrameImage image{};
    auto written = encode_frame_image(*frame, image);
    require(written.ok() && *written == image_size);
    auto again = decode_frame_image(std::span<const std::uint8_t>(image.data(), *written));
    require(again.ok() && again->id == frame->id && again->extended == frame->extended && again->len == frame->len &&
            std::equal(again->data.begin(), again->data.begin() + again->len, frame->data.begin()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_frame_images(data, size);
  FuzzedDataProvider input(data, size);
  // Options from the end of the input (FuzzedDataProvider takes integers from there).
  const auto flags = input.ConsumeIntegral<std::uint8_t>();
  IsoTpOptions options;
  options.tx_id = 0x7E0;
  options.rx_id = 0x7E8;
  if (flags & 0x01) {
    options.addressing = IsoTpAddressing::normal_fixed;
    options.target_address = 0x10;
  }
  options.fd = (flags & 0x02) != 0;
  options.tx_dl = options.fd ? k_fd_lengths[(flags >> 2) % k_fd_lengths.size()] : 8;
  if (flags & 0x20) options.padding.reset();
  if (flags & 0x40) options.target = IsoTpTarget::functional;
  options.block_size = input.ConsumeIntegral<std::uint8_t>() % 4;
  if (flags & 0x80) options.max_rx_message = input.ConsumeIntegralInRange<std::uint32_t>(1, 512);

  auto resolved = resolve_isotp_options(options);
  require(resolved.ok());
  auto bus = std::make_shared<FuzzBus>(input, resolved->rx_id, resolved->extended_ids);
  auto made = make_isotp_link(bus, options);
  require(made.ok());
  DiagLink& link = **made;

  for (int op = 0; op < 8 && input.remaining_bytes() > 0; ++op) {
    if (input.ConsumeBool()) {
      auto message = link.receive(std::chrono::milliseconds(100));
      fuzz::say("receive: %s", message ? to_hex(*message, " ").c_str() : message.error().message.c_str());
      if (message) {
        // The limit bounds reassembly; a single frame (up to 62 bytes) is taken whole.
        require(!message->empty() && message->size() <= std::max<std::size_t>(resolved->max_rx_message, 62));
      } else {
        const Errc code = message.error().code;
        require(code == Errc::timeout || code == Errc::protocol);
      }
      continue;
    }
    Bytes message(input.ConsumeIntegralInRange<std::size_t>(1, 600));
    for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<std::uint8_t>(i * 7 + 1);
    bus->sent().clear();
    auto sent = link.send(message);
    fuzz::say("send %zu bytes: %s", message.size(), sent ? "ok" : sent.error().message.c_str());
    for (const auto& frame : bus->sent()) {
      require(frame.id == resolved->tx_id && frame.extended == resolved->extended_ids && frame.fd == options.fd);
      require(valid_frame_length(frame.len, frame.fd) && frame.len >= 1);
      if (!options.fd) require(frame.len <= 8);
      if (options.padding && frame.len <= 8) require(frame.len == 8);
    }
    if (sent) {
      // Flow control frames (ours, sent while receiving) are not in between: this is one send.
      require(reassemble(bus->sent()) == message);
    } else {
      const Errc code = sent.error().code;
      require(code == Errc::timeout || code == Errc::protocol);
    }
  }
  return 0;
}
