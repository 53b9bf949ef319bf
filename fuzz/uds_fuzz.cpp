// libFuzzer target: what an ECU answers a tester (uds/, ecu/uds_driver.hpp). A scripted ECU
// behind the DiagLink seam answers every request from the input: raw bytes, a positive response
// echoing the request, a negative response, silence or a dropped link. Through it run the UDS
// client's services (response matching, NRCs 0x21/0x22/0x37/0x78, block lengths), the programming
// and read-out sequences, and the uds driver (versions, flash, read-out and its checks).
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ecu/uds_driver.hpp"
#include "fuzz_support.hpp"
#include "uds/client.hpp"
#include "uds/programming.hpp"
#include "util/image.hpp"

using namespace ecuup;
using ecuup::fuzz::require;
namespace fs = std::filesystem;

namespace {

constexpr std::uint8_t k_answer_timeout = 0xFF;
constexpr std::uint8_t k_answer_drop = 0xFE;
constexpr std::uint8_t k_answer_echo = 0x80;
constexpr std::uint8_t k_echo_negative = 7;
constexpr std::uint8_t k_power_down_unavailable = 0xFF;

// What the scripted ECU saw, shared by every link the driver opens.
struct Script {
  explicit Script(FuzzedDataProvider& in) : input(in) {}
  FuzzedDataProvider& input;
  bool memory_request_seen = false;  // an erase, RequestDownload or TransferData reached the ECU
  std::uint64_t transferred = 0;     // TransferData bytes to the ECU, repeats not counted
  Bytes last_transfer;               // since the last RequestDownload: a new download's first
                                     // block may equal the last one's (counter 1, same data)
  std::uint16_t erase_routine = 0xFF00;
};

// Answers come from the front of the input, one per receive(): a byte b, then
//   0x00-0x7F  b raw bytes;
//   0x80-0xEF  a positive response: SID + 0x40, the first ((b >> 4) & 7) bytes after the SID of
//              the request, then (b & 0x0F) bytes;
//   0xF0-0xFD  a negative response to the request with the next byte as NRC;
//   0xFE       the link drops (until the driver opens a new one); 0xFF silence.
// A spent input is silence.
class ScriptedEcu final : public DiagLink {
 public:
  ScriptedEcu(Script& script, std::size_t max_message) : m_script(script), m_max_message(max_message) {}

  // A request counts as seen even when the link is down: a send that fails may still have reached
  // the ECU, so ecuup must take it for one that did.
  Result<void> send(ByteView message) override {
    m_request.assign(message.begin(), message.end());
    note_request();
    if (m_dropped) return make_error(Errc::network, "fuzz: link dropped");
    return success();
  }

  Result<Bytes> receive(std::chrono::milliseconds) override {
    if (m_dropped) return make_error(Errc::network, "fuzz: link dropped");
    FuzzedDataProvider& in = m_script.input;
    if (in.remaining_bytes() == 0) return make_error(Errc::timeout, "fuzz: input spent");
    const std::uint8_t b = in.ConsumeBytes<std::uint8_t>(1).front();
    if (b == k_answer_timeout) return make_error(Errc::timeout, "fuzz: silence");
    if (b == k_answer_drop) {
      m_dropped = true;
      return make_error(Errc::network, "fuzz: link dropped");
    }
    if (b < k_answer_echo) return in.ConsumeBytes<std::uint8_t>(b);
    const std::uint8_t sid = m_request.empty() ? 0 : m_request[0];
    const std::size_t echo = (b >> 4) & 7;
    if (echo == k_echo_negative) {
      Bytes nrc = {sid::k_negative_response, sid};
      const auto code = in.ConsumeBytes<std::uint8_t>(1);
      nrc.insert(nrc.end(), code.begin(), code.end());
      return nrc;
    }
    Bytes answer = {static_cast<std::uint8_t>(sid + sid::k_positive_offset)};
    for (std::size_t i = 1; i <= echo && i < m_request.size(); ++i) answer.push_back(m_request[i]);
    const auto extra = in.ConsumeBytes<std::uint8_t>(b & 0x0F);
    answer.insert(answer.end(), extra.begin(), extra.end());
    // ECUReset's powerDownTime is waited out as the ECU asks, up to 254 s (ISO 14229-1): the
    // script keeps it at 0, or at 0xFF, which says the time is not available.
    if (sid == sid::k_ecu_reset && answer.size() >= 3 && answer[2] != k_power_down_unavailable) answer[2] = 0;
    return answer;
  }

  std::size_t max_message_size() const override { return m_max_message; }
  std::string describe() const override { return "fuzz ECU"; }
  void restore() { m_dropped = false; }

 private:
  void note_request() {
    const Bytes& r = m_request;
    if (r.empty()) return;
    const bool erase = r[0] == sid::k_routine_control && r.size() >= 4 && r[1] == 0x01 &&
                       (r[2] << 8 | r[3]) == m_script.erase_routine;
    if (erase || r[0] == sid::k_request_download || r[0] == sid::k_transfer_data || r[0] == 0x3D) {
      m_script.memory_request_seen = true;
    }
    if (r[0] == sid::k_request_download) m_script.last_transfer.clear();
    if (r[0] == sid::k_transfer_data && r != m_script.last_transfer) {
      m_script.transferred += r.size() - std::min<std::size_t>(r.size(), 2);
      m_script.last_transfer = r;
    }
  }

  Script& m_script;
  std::size_t m_max_message;
  Bytes m_request;
  bool m_dropped = false;
};

UdsClientOptions client_options() {
  UdsClientOptions o;
  // Every pause the client takes is short: the script answers at once and runs out quickly.
  o.tester_present_interval = std::chrono::milliseconds(0);
  o.busy_delay = std::chrono::milliseconds(0);
  o.time_delay_wait = std::chrono::milliseconds(0);
  o.time_delay_patience = std::chrono::milliseconds(1);
  o.conditions_delay = std::chrono::milliseconds(0);
  o.conditions_delay_max = std::chrono::milliseconds(0);
  o.conditions_patience = std::chrono::milliseconds(1);
  return o;
}

void require_uds_error(const Error& error) {
  switch (error.code) {
    case Errc::timeout:
    case Errc::network:
    case Errc::negative_response:
    case Errc::protocol:
    case Errc::ecu:
    case Errc::config:
    case Errc::verify:
    case Errc::io: return;
    default: require(false);
  }
}

Bytes some_bytes(FuzzedDataProvider& in, std::size_t max) {
  Bytes out(in.ConsumeIntegralInRange<std::size_t>(0, max));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(0xA5 ^ i);
  return out;
}

MemoryFormat memory_format(FuzzedDataProvider& in) {
  MemoryFormat f;
  if (in.ConsumeBool()) {
    f.address_bytes = in.ConsumeIntegralInRange<std::uint8_t>(1, 5);
    f.size_bytes = in.ConsumeIntegralInRange<std::uint8_t>(1, 4);
  }
  return f;
}

// The client's services one by one, in an order the input picks.
void run_services(Script& script) {
  FuzzedDataProvider& in = script.input;
  ScriptedEcu link(script, in.ConsumeBool() ? 4095 : in.ConsumeIntegralInRange<std::size_t>(0, 64));
  UdsClient client(link, client_options());
  for (int op = 0; op < 24 && in.remaining_bytes() > 0; ++op) {
    Result<void> outcome = success();
    auto keep = [&](auto&& result) {
      if (!result) outcome = std::move(result).error();
    };
    const int service = in.ConsumeIntegralInRange(0, 16);
    switch (service) {
      case 0: keep(client.diagnostic_session_control(in.ConsumeIntegral<std::uint8_t>())); break;
      case 1: keep(client.ecu_reset(in.ConsumeIntegral<std::uint8_t>() & 0x7F)); break;
      case 2: keep(client.read_data_by_identifier(in.ConsumeIntegral<std::uint16_t>())); break;
      case 3: keep(client.write_data_by_identifier(in.ConsumeIntegral<std::uint16_t>(), some_bytes(in, 8))); break;
      case 4: keep(client.security_access_request_seed(in.ConsumeIntegral<std::uint8_t>() | 1)); break;
      case 5: keep(client.security_access_send_key(in.ConsumeIntegral<std::uint8_t>() | 1, some_bytes(in, 8))); break;
      case 6: keep(client.communication_control(in.ConsumeIntegral<std::uint8_t>(), 1)); break;
      case 7: keep(client.control_dtc_setting(in.ConsumeIntegral<std::uint8_t>())); break;
      case 8: keep(client.routine_control(1, in.ConsumeIntegral<std::uint16_t>(), some_bytes(in, 8))); break;
      case 9:
      case 10: {
        const auto format = memory_format(in);
        const auto address = in.ConsumeIntegral<std::uint32_t>();
        const auto size = in.ConsumeIntegral<std::uint32_t>();
        auto max_block = service == 9 ? client.request_download(format, address, size)
                                      : client.request_upload(format, address, size);
        if (max_block) require(*max_block >= 3);
        keep(std::move(max_block));
        break;
      }
      case 11: keep(client.transfer_data(in.ConsumeIntegral<std::uint8_t>(), some_bytes(in, 16))); break;
      case 12: keep(client.request_transfer_exit(some_bytes(in, 4))); break;
      case 13: keep(client.tester_present()); break;
      case 14: keep(client.clear_diagnostic_information()); break;
      case 15: keep(client.read_dtc_information(in.ConsumeIntegral<std::uint8_t>(), some_bytes(in, 4))); break;
      default: {
        Bytes raw = some_bytes(in, 6);
        if (raw.empty()) raw.push_back(0);
        raw[0] = in.ConsumeIntegral<std::uint8_t>();
        keep(client.request(raw));
        break;
      }
    }
    fuzz::say("service %d: %s", service, outcome ? "ok" : outcome.error().message.c_str());
    if (!outcome) {
      require_uds_error(outcome.error());
      if (outcome.error().code == Errc::negative_response) require(client.last_nrc().has_value());
    }
  }
}

std::vector<UdsStep> steps_from(FuzzedDataProvider& in, bool read_out) {
  if (in.ConsumeBool()) return read_out ? default_read_steps() : default_flash_steps();
  std::vector<UdsStep> steps;
  const int count = in.ConsumeIntegralInRange(1, 8);
  for (int i = 0; i < count; ++i) {
    UdsStep step;
    step.kind = static_cast<UdsStepKind>(in.ConsumeIntegralInRange(0, static_cast<int>(UdsStepKind::request)));
    if (step.kind == UdsStepKind::request) {
      step.request = some_bytes(in, 5);
      if (step.request.empty()) step.request.push_back(0x31);
      step.request[0] = in.ConsumeIntegral<std::uint8_t>();
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

UdsSequenceOptions sequence_options(FuzzedDataProvider& in) {
  UdsSequenceOptions o;
  o.memory_format = memory_format(in);
  o.erase_per_segment = in.ConsumeBool();
  if (in.ConsumeBool()) o.erase_expected_status = {0x00};
  if (in.ConsumeBool()) o.check_expected_status = {0x00};
  o.transfer_retries = in.ConsumeIntegralInRange(0, 2);
  if (in.ConsumeBool()) o.max_block_length = in.ConsumeIntegralInRange<std::size_t>(3, 40);
  o.reset_delay = std::chrono::milliseconds(0);
  o.reset_timeout = std::chrono::milliseconds(in.ConsumeBool() ? 1 : 0);
  return o;
}

UdsSequenceHooks hooks_for(ScriptedEcu& link) {
  UdsSequenceHooks hooks;
  hooks.compute_key = [](ByteView seed, std::uint8_t level) -> Result<Bytes> {
    Bytes key(seed.rbegin(), seed.rend());
    for (auto& b : key) b = static_cast<std::uint8_t>(b ^ level);
    return key;
  };
  hooks.reconnect = [&link]() -> Result<void> {
    link.restore();
    return success();
  };
  return hooks;
}

std::size_t uses(const std::vector<UdsStep>& steps, UdsStepKind kind) {
  return static_cast<std::size_t>(
      std::count_if(steps.begin(), steps.end(), [&](const UdsStep& s) { return s.kind == kind; }));
}

void run_flash(Script& script) {
  FuzzedDataProvider& in = script.input;
  FlashImage image;
  std::uint32_t address = in.ConsumeIntegral<std::uint16_t>();
  const int segments = in.ConsumeIntegralInRange(1, 3);
  for (int i = 0; i < segments; ++i) {
    ImageSegment segment{.address = address, .data = some_bytes(in, 64)};
    if (segment.data.empty()) segment.data.push_back(0xEE);
    address += static_cast<std::uint32_t>(segment.data.size()) + in.ConsumeIntegralInRange<std::uint32_t>(1, 4096);
    image.segments.push_back(std::move(segment));
  }
  const std::uint64_t total = image.total_size();
  auto source = ImageSource::from_memory(std::move(image));
  UdsSequenceOptions options = sequence_options(in);
  options.flash_steps = steps_from(in, false);
  script.erase_routine = options.erase_routine;
  ScriptedEcu link(script, in.ConsumeBool() ? 4095 : in.ConsumeIntegralInRange<std::size_t>(0, 64));
  UdsClient client(link, client_options());
  const auto hooks = hooks_for(link);
  UdsFlashState state;
  auto version = run_flash_sequence(client, options, source, hooks, null_progress(), "fuzz", &state);
  fuzz::say("flash: %s", version ? "ok" : version.error().message.c_str());
  // The ECU was touched only if a request that changes its memory reached it.
  if (state.touched || state.transferred) require(script.memory_request_seen);
  if (version) {
    if (uses(options.flash_steps, UdsStepKind::download)) {
      require(state.transferred && script.transferred >= total);
    }
  } else {
    require_uds_error(version.error());
  }
}

void run_read_out(Script& script) {
  FuzzedDataProvider& in = script.input;
  UdsSequenceOptions options = sequence_options(in);
  options.read_steps = steps_from(in, true);
  const std::uint32_t base = in.ConsumeIntegral<std::uint16_t>();
  options.read_regions.push_back({.address = base, .size = in.ConsumeIntegralInRange<std::uint64_t>(1, 256)});
  const auto format = static_cast<ImageFormat>(in.ConsumeIntegralInRange(1, 3));
  if (format != ImageFormat::raw && in.ConsumeBool()) {
    options.read_regions.push_back({.address = base + 0x1000, .size = in.ConsumeIntegralInRange<std::uint64_t>(1, 64)});
  }
  ScriptedEcu link(script, 4095);
  UdsClient client(link, client_options());
  const auto hooks = hooks_for(link);
  const fs::path file = fuzz::process_dir() / "read-out";
  auto writer = ImageWriter::create(file, format);
  require(writer.ok());
  auto read = run_read_sequence(client, options, *writer, hooks, null_progress(), "fuzz");
  fuzz::say("read-out: %s", read ? "ok" : read.error().message.c_str());
  if (!read) {
    require_uds_error(read.error());
    return;
  }
  // Two uploads write the regions twice, which a file cannot hold.
  if (uses(options.read_steps, UdsStepKind::upload) != 1) return;
  require(writer->finish().ok());
  // The file holds exactly the regions: what the ECU sent, no more.
  auto back = ImageSource::open(file, format, base);
  require(back.ok());
  std::uint64_t wanted = 0;
  for (const auto& r : options.read_regions) wanted += r.size;
  require(back->total_size() == wanted);
}

void run_driver(Script& script) {
  FuzzedDataProvider& in = script.input;
  static const fs::path image_file = [] {
    const fs::path file = fuzz::process_dir() / "image.bin";
    FlashImage image;
    image.segments.push_back({.address = 0x1000, .data = Bytes(48, 0x5A)});
    require(write_image(file, image, ImageFormat::raw).ok());
    return file;
  }();
  UdsDriverSettings settings;
  settings.ecu_name = "fuzz";
  settings.client = client_options();
  settings.sequence = sequence_options(in);
  settings.sequence.flash_steps = steps_from(in, false);
  settings.sequence.read_steps = steps_from(in, true);
  settings.sequence.read_regions.push_back({.address = 0x1000, .size = in.ConsumeIntegralInRange<std::uint64_t>(1, 96)});
  settings.version_encoding = in.ConsumeBool() ? DidEncoding::ascii : DidEncoding::hex;
  if (in.ConsumeBool()) settings.identification["serial"] = 0xF18C;
  settings.image_format = ImageFormat::raw;
  settings.image_base_address = 0x1000;
  settings.recovery_window = std::chrono::milliseconds(1);
  script.erase_routine = settings.sequence.erase_routine;
  const std::size_t max_message = in.ConsumeBool() ? 4095 : in.ConsumeIntegralInRange<std::size_t>(0, 64);
  auto driver = make_uds_driver(std::move(settings), [&script, max_message]() -> Result<std::unique_ptr<DiagLink>> {
    if (script.input.remaining_bytes() > 0 && script.input.ConsumeIntegral<std::uint8_t>() == 0xC0) {
      return make_error(Errc::network, "fuzz: connection refused");
    }
    return std::unique_ptr<DiagLink>(std::make_unique<ScriptedEcu>(script, max_message));
  });
  require(driver.ok());
  (*driver)->set_recovery(in.ConsumeBool());
  const fs::path read_out = fuzz::process_dir() / "driver-read-out";
  for (int op = 0; op < 3 && in.remaining_bytes() > 0; ++op) {
    switch (in.ConsumeIntegralInRange(0, 2)) {
      case 0: {
        auto identity = (*driver)->read_identity();
        fuzz::say("read_identity: %s", identity ? identity->version.c_str() : identity.error().message.c_str());
        if (!identity) require_uds_error(identity.error());
        break;
      }
      case 1: {
        auto flashed = (*driver)->flash(image_file, null_progress());
        fuzz::say("driver flash: %s", flashed ? "ok" : flashed.error().message.c_str());
        if (!flashed) require_uds_error(flashed.error());
        if ((*driver)->touched()) require(script.memory_request_seen);
        break;
      }
      default: {
        auto read = (*driver)->read_out(read_out, null_progress());
        fuzz::say("driver read-out: %s", read ? "ok" : read.error().message.c_str());
        if (!read) require_uds_error(read.error());
        std::error_code ignored;
        fs::remove(read_out, ignored);
        break;
      }
    }
  }
}

void check_decode_did(FuzzedDataProvider& in) {
  const auto bytes = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange(0, 24));
  const std::string hex = decode_did(bytes, DidEncoding::hex);
  require(hex.size() == 2 * bytes.size());
  const std::string text = decode_did(bytes, DidEncoding::ascii);
  require(text == hex || std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7F; }));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  Script script(input);
  switch (input.ConsumeIntegralInRange(0, 4)) {
    case 0: run_services(script); break;
    case 1: run_flash(script); break;
    case 2: run_read_out(script); break;
    case 3: run_driver(script); break;
    default: check_decode_did(input); break;
  }
  return 0;
}
