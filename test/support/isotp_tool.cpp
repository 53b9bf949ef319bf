// ecuup-isotp-tool: a tiny ISO-TP peer for tests, so a VM test can exchange messages between our
// userspace ISO-TP (or the kernel's CAN_ISOTP) and can-utils' isotpsend/isotprecv.
//   ecuup-isotp-tool send|recv --bus SPEC --tx ID --rx ID [--kernel] [--fd] [options] [HEX]
// send: HEX (or stdin when absent) as one message. recv: prints each message as upper-case hex
// bytes separated by spaces, one line per message. IDs are hex; 8 digits or > 7FF mean 29-bit.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "transport/bus.hpp"
#include "transport/isotp.hpp"
#include "util/bytes.hpp"

using namespace ecuup;

namespace {

constexpr int k_exit_ok = 0;
constexpr int k_exit_failure = 1;
constexpr int k_exit_usage = 2;
constexpr std::uint32_t k_max_standard_id = 0x7FF;
constexpr std::size_t k_extended_id_digits = 8;

const char* const k_usage =
    "usage: ecuup-isotp-tool send|recv --bus SPEC --tx ID --rx ID [options] [HEX]\n"
    "  --bus SPEC       udp:LOCAL:REMOTE or socketcan:IFACE (with --kernel also just IFACE)\n"
    "  --tx ID --rx ID  CAN ids in hex; 8 digits or above 7FF select 29-bit ids\n"
    "  --extended       29-bit ids\n"
    "  --kernel         use the kernel's CAN_ISOTP socket instead of the userspace ISO-TP\n"
    "  --fd             CAN FD (with --tx-dl N, default 64)\n"
    "  --tx-dl N        8, 12, 16, 20, 24, 32, 48 or 64\n"
    "  --padding XX     padding byte in hex (default CC); --no-padding to shorten frames\n"
    "  --bs N --stmin XX   block size and STmin (hex) announced in our flow control\n"
    "  --timeout MS     receive timeout per message (default 5000)\n"
    "  --count N        recv: number of messages to receive (default 1)\n"
    "  --trace FILE     candump log of the frames (userspace ISO-TP only)\n"
    "  --bitrate BPS    bus-timing model\n";

struct Args {
  std::string mode;
  std::string bus;
  bool kernel = false;
  unsigned timeout_ms = 5000;
  unsigned count = 1;
  std::string trace;
  std::uint32_t bitrate = 0;
  std::string hex;
  bool have_hex = false;
  IsoTpOptions isotp;
  bool have_tx = false;
  bool have_rx = false;
};

int usage(const std::string& message) {
  std::cerr << "ecuup-isotp-tool: " << message << "\n" << k_usage;
  return k_exit_usage;
}

bool parse_number(std::string_view text, int base, std::uint32_t& out) {
  if (base == 16 && (text.starts_with("0x") || text.starts_with("0X"))) text.remove_prefix(2);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// Returns an exit code when parsing ends the program, -1 to go on.
int parse(int argc, char** argv, Args& args) {
  std::vector<std::string_view> words(argv + 1, argv + argc);
  if (words.empty()) return usage("missing mode");
  if (words[0] == "-h" || words[0] == "--help") {
    std::cout << k_usage;
    return k_exit_ok;
  }
  args.mode = std::string(words[0]);
  if (args.mode != "send" && args.mode != "recv") return usage("unknown mode \"" + args.mode + "\"");
  bool extended = false;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string_view w = words[i];
    auto value = [&](std::string_view& out) {
      if (i + 1 >= words.size()) return false;
      out = words[++i];
      return true;
    };
    std::string_view v;
    std::uint32_t n = 0;
    if (w == "--kernel") {
      args.kernel = true;
    } else if (w == "--fd") {
      args.isotp.fd = true;
      if (args.isotp.tx_dl == 8) args.isotp.tx_dl = 64;
    } else if (w == "--extended") {
      extended = true;
    } else if (w == "--no-padding") {
      args.isotp.padding.reset();
    } else if (w == "--bus") {
      if (!value(v)) return usage("--bus needs a value");
      args.bus = std::string(v);
    } else if (w == "--tx" || w == "--rx") {
      if (!value(v) || !parse_number(v, 16, n)) return usage(std::string(w) + " needs a hex CAN id");
      if (n > k_max_standard_id || v.size() >= k_extended_id_digits) extended = true;
      (w == "--tx" ? args.isotp.tx_id : args.isotp.rx_id) = n;
      (w == "--tx" ? args.have_tx : args.have_rx) = true;
    } else if (w == "--tx-dl") {
      if (!value(v) || !parse_number(v, 10, n) || n > 64) return usage("--tx-dl needs 8..64");
      args.isotp.tx_dl = static_cast<std::uint8_t>(n);
    } else if (w == "--padding") {
      if (!value(v) || !parse_number(v, 16, n) || n > 0xFF) return usage("--padding needs a hex byte");
      args.isotp.padding = static_cast<std::uint8_t>(n);
    } else if (w == "--bs") {
      if (!value(v) || !parse_number(v, 10, n) || n > 0xFF) return usage("--bs needs 0..255");
      args.isotp.block_size = static_cast<std::uint8_t>(n);
    } else if (w == "--stmin") {
      if (!value(v) || !parse_number(v, 16, n) || n > 0xFF) return usage("--stmin needs a hex byte");
      args.isotp.st_min = static_cast<std::uint8_t>(n);
    } else if (w == "--timeout") {
      if (!value(v) || !parse_number(v, 10, n)) return usage("--timeout needs milliseconds");
      args.timeout_ms = n;
    } else if (w == "--count") {
      if (!value(v) || !parse_number(v, 10, n)) return usage("--count needs a number");
      args.count = n;
    } else if (w == "--bitrate") {
      if (!value(v) || !parse_number(v, 10, n)) return usage("--bitrate needs bits per second");
      args.bitrate = n;
    } else if (w == "--trace") {
      if (!value(v)) return usage("--trace needs a file");
      args.trace = std::string(v);
    } else if (!w.starts_with("--") && args.mode == "send" && !args.have_hex) {
      args.hex = std::string(w);
      args.have_hex = true;
    } else {
      return usage("unexpected argument \"" + std::string(w) + "\"");
    }
  }
  if (args.bus.empty()) return usage("--bus is required");
  if (!args.have_tx || !args.have_rx) return usage("--tx and --rx are required");
  args.isotp.extended_ids = extended;
  return -1;
}

int fail(const Error& error) {
  std::cerr << "ecuup-isotp-tool: error: " << error.message << " (" << errc_name(error.code) << ")\n";
  return k_exit_failure;
}

std::string upper_hex(ByteView bytes) {
  static constexpr char k_digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 3);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0) out += ' ';
    out += k_digits[bytes[i] >> 4];
    out += k_digits[bytes[i] & 0xF];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (const int code = parse(argc, argv, args); code >= 0) return code;

  std::unique_ptr<DiagLink> link;
  if (args.kernel) {
    std::string iface = args.bus;
    if (iface.starts_with("socketcan:")) iface = iface.substr(10);
    auto made = make_kernel_isotp_link(iface, args.isotp);
    if (!made) return fail(made.error());
    link = std::move(made).value();
  } else {
    BusOptions options;
    options.trace_file = args.trace;
    options.bitrate = args.bitrate;
    auto bus = open_frame_bus(args.bus, options);
    if (!bus) return fail(bus.error());
    auto made = make_isotp_link(std::move(bus).value(), args.isotp);
    if (!made) return fail(made.error());
    link = std::move(made).value();
  }

  if (args.mode == "send") {
    if (!args.have_hex) args.hex.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    std::string digits;
    for (char c : args.hex)
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t' && c != '.' && c != ':') digits += c;
    auto message = from_hex(digits);
    if (!message) return fail(message.error());
    if (message->empty()) return usage("nothing to send");
    if (auto sent = link->send(*message); !sent) return fail(sent.error());
    return k_exit_ok;
  }
  for (unsigned i = 0; i < args.count; ++i) {
    auto message = link->receive(std::chrono::milliseconds(args.timeout_ms));
    if (!message) return fail(message.error());
    std::cout << upper_hex(*message) << std::endl;
  }
  return k_exit_ok;
}
