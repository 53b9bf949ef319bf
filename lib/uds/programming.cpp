#include "uds/programming.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "util/cancel.hpp"

namespace ecuup {

namespace {

constexpr std::uint8_t k_routine_start = 0x01;
constexpr std::uint8_t k_write_memory_by_address = 0x3D;

struct StepName {
  UdsStepKind kind;
  const char* name;
};

constexpr StepName k_step_names[] = {
    {UdsStepKind::default_session, "default_session"},
    {UdsStepKind::extended_session, "extended_session"},
    {UdsStepKind::programming_session, "programming_session"},
    {UdsStepKind::dtc_setting_off, "dtc_setting_off"},
    {UdsStepKind::dtc_setting_on, "dtc_setting_on"},
    {UdsStepKind::communication_off, "communication_off"},
    {UdsStepKind::communication_on, "communication_on"},
    {UdsStepKind::security_access, "security_access"},
    {UdsStepKind::sbl, "sbl"},
    {UdsStepKind::erase, "erase"},
    {UdsStepKind::download, "download"},
    {UdsStepKind::check_dependencies, "check_dependencies"},
    {UdsStepKind::reset, "reset"},
    {UdsStepKind::read_version, "read_version"},
    {UdsStepKind::upload, "upload"},
    {UdsStepKind::tester_present, "tester_present"},
    {UdsStepKind::request, "request"},
};

Result<void> expect_status(const Bytes& status, const Bytes& expected, std::uint16_t routine) {
  if (expected.empty() || (status.size() >= expected.size() && std::equal(expected.begin(), expected.end(), status.begin()))) {
    return success();
  }
  return make_error(Errc::ecu, fmt::format("RoutineControl 0x{:04X}: routine reported status {} (expected {})", routine,
                                           status.empty() ? std::string("none") : to_hex(status, " "),
                                           to_hex(expected, " ")));
}

// NRCs to a repeated TransferData that say the ECU no longer runs the transfer: it left the
// programming session (reset, power loss, S3 expired) while we heard nothing.
bool nrc_means_transfer_lost(std::uint8_t code) {
  return code == nrc::k_service_not_supported_in_active_session || code == nrc::k_request_sequence_error ||
         code == nrc::k_security_access_denied || code == nrc::k_service_not_supported;
}

// A block went unanswered, and its repeat failed otherwise: the silence stays the error (its code
// decides what happens next), the later answer is what the ECU said after it.
Error repeated_block_error(const Error& silence, const Error& later, std::optional<std::uint8_t> later_nrc) {
  std::string then;
  if (later_nrc) {
    then = fmt::format("the ECU then answered {} (0x{:02X})", nrc_name(*later_nrc), *later_nrc);
    if (nrc_means_transfer_lost(*later_nrc)) then += ", so it probably reset or left the programming session";
  } else {
    then = "the repeat then failed: " + later.message;
  }
  return make_error(silence.code, fmt::format("{}; {}", silence.message, then));
}

Error interrupted_error(const std::string& where) {
  return make_error(Errc::interrupted, "interrupted " + where);
}

// Pauses between attempts to reach an ECU grow to this.
constexpr std::chrono::milliseconds k_max_wait_delay{2000};

// Holds an InterruptShield while `on`: the requests between two points where an interruption may
// stop a flash that touched the ECU run to their end.
class ShieldIf {
 public:
  explicit ShieldIf(bool on) {
    if (on) m_shield.emplace();
  }

 private:
  std::optional<InterruptShield> m_shield;
};

// ISO 14229-1: a negative response means the server did not carry the request out, except
// generalProgrammingFailure, which reports a write or erase that went wrong.
template <class T>
bool left_memory_untouched(const Result<T>& result, std::optional<std::uint8_t> nrc) {
  if (result) return false;
  const Errc code = result.error().code;
  if (code == Errc::config || code == Errc::internal) return true;  // never sent
  return code == Errc::negative_response && nrc != nrc::k_general_programming_failure;
}

// State shared by the steps of one run.
class SequenceRun {
 public:
  SequenceRun(UdsClient& client, const UdsSequenceOptions& options, const UdsSequenceHooks& hooks,
              Progress& progress)
      : m_client(client), m_options(options), m_hooks(hooks), m_progress(progress) {}

  const UdsFlashState& state() const { return m_state; }
  // From the first request that changes memory until every block is in, an interruption stops
  // the run only at block, segment and step boundaries; the requests in between are shielded.
  bool shielding() const { return m_shielding; }

  Result<void> run_common(const UdsStep& step);
  // The first request may meet an ECU still booting (a restore after a power loss): retry it on
  // silence until the reset timeout, like after an ECUReset.
  Result<void> first_or_common(const UdsStep& step, bool first) {
    if (!first) return run_common(step);
    const EcuPoll poll{.first_delay = std::chrono::milliseconds(0),
                       .interval = m_options.reset_delay,
                       .max_interval = k_max_wait_delay,
                       .patience = m_options.reset_timeout};
    return wait_for_ecu([&](std::chrono::milliseconds) { return run_common(step); }, m_hooks.reconnect, poll,
                        EcuWait::nrc_fails);
  }
  Result<void> erase(const ImageSource& image);
  Result<void> download(ImageSource& image);
  Result<void> boot_loader(ImageSource& image);
  Result<void> upload(ImageWriter& out);
  Result<Bytes> read_version() { return m_client.read_data_by_identifier(m_options.version_did); }

 private:
  Result<void> security_access();
  Result<void> reset();
  Result<Bytes> transfer_block(std::uint8_t counter, ByteView data, const std::string& label);
  // 34, 36 x N, 37 for segment `index`; `last` marks the end of the software's transfer.
  Result<void> download_segment(ImageSource& image, std::size_t index, const std::string& where, bool touches, bool last);
  // A raw request step that erases or writes memory, which counts as touching the ECU.
  bool changes_memory(const Bytes& request) const {
    if (request.empty()) return false;
    switch (request[0]) {
      case sid::k_routine_control:
        return request.size() >= 4 && request[1] == k_routine_start &&
               (request[2] << 8 | request[3]) == m_options.erase_routine;
      case sid::k_request_download:
      case sid::k_transfer_data:
      case k_write_memory_by_address: return true;
      default: return false;
    }
  }
  // Runs a request that changes memory and records whether it did: not when it never reached a
  // link to the ECU (the link could not be opened), nor when the ECU refused it.
  template <class F>
  auto touching(F&& request) {
    m_shielding = true;
    ShieldIf shield(true);
    const std::uint64_t offered = m_client.requests_offered();
    auto result = request();
    if (m_client.requests_offered() != offered && !left_memory_untouched(result, m_client.last_nrc())) {
      m_state.touched = true;
    }
    return result;
  }

  UdsClient& m_client;
  const UdsSequenceOptions& m_options;
  const UdsSequenceHooks& m_hooks;
  Progress& m_progress;
  std::uint64_t m_done = 0;
  UdsFlashState m_state;
  bool m_shielding = false;
  // Once every block is in: the ECU holds the new software, the rest of the run is not interrupted.
  std::optional<InterruptShield> m_finishing;
};

Result<void> SequenceRun::run_common(const UdsStep& step) {
  switch (step.kind) {
    case UdsStepKind::default_session:
      ECUUP_TRY(m_client.diagnostic_session_control(m_options.default_session));
      return success();
    case UdsStepKind::extended_session:
      ECUUP_TRY(m_client.diagnostic_session_control(m_options.extended_session));
      return success();
    case UdsStepKind::programming_session:
      ECUUP_TRY(m_client.diagnostic_session_control(m_options.programming_session));
      return success();
    case UdsStepKind::dtc_setting_off:
      return m_client.control_dtc_setting(m_options.dtc_setting_off);
    case UdsStepKind::dtc_setting_on:
      return m_client.control_dtc_setting(m_options.dtc_setting_on);
    case UdsStepKind::communication_off:
      return m_client.communication_control(m_options.communication_control_off, m_options.communication_type);
    case UdsStepKind::communication_on:
      return m_client.communication_control(m_options.communication_control_on, m_options.communication_type);
    case UdsStepKind::security_access:
      return security_access();
    case UdsStepKind::check_dependencies: {
      ECUUP_ASSIGN(Bytes status,
                   m_client.routine_control(k_routine_start, m_options.check_routine, m_options.check_option_record));
      return expect_status(status, m_options.check_expected_status, m_options.check_routine);
    }
    case UdsStepKind::reset:
      return reset();
    case UdsStepKind::tester_present:
      return m_client.tester_present();
    case UdsStepKind::request: {
      const std::string label = "request " + to_hex(step.request, " ");
      if (changes_memory(step.request)) {
        ECUUP_TRY(touching([&] { return m_client.request(step.request, label); }));
      } else {
        ECUUP_TRY(m_client.request(step.request, label));
      }
      return success();
    }
    default:
      return make_error(Errc::config, fmt::format("step '{}' is not allowed in this sequence", uds_step_name(step.kind)));
  }
}

Result<void> SequenceRun::security_access() {
  const std::uint8_t level = m_options.security_level;
  ECUUP_ASSIGN(Bytes seed, m_client.security_access_request_seed(level));
  // ISO 14229-1: a seed of all zeros means this level is already unlocked.
  if (std::all_of(seed.begin(), seed.end(), [](std::uint8_t b) { return b == 0; })) {
    m_progress.note(fmt::format("security level 0x{:02X} already unlocked", level));
    return success();
  }
  if (!m_hooks.compute_key) {
    return make_error(Errc::config, "SecurityAccess: no key_command or key_library configured for this ECU");
  }
  auto key = m_hooks.compute_key(seed, level);
  if (!key) return std::move(key).error().context(fmt::format("SecurityAccess level 0x{:02X}", level));
  return m_client.security_access_send_key(level, *key);
}

Result<void> SequenceRun::reset() {
  auto answered = m_client.ecu_reset(m_options.reset_type);
  EcuPoll poll{.first_delay = m_options.reset_delay,
               .interval = m_options.reset_delay,
               .max_interval = k_max_wait_delay,
               .patience = m_options.reset_timeout};
  if (!answered) {
    // An ECU may reset before its response leaves, or lose power with it (a DoIP entity then drops
    // the connection): neither is a failure yet, the ECU may come back with the new software.
    const Errc code = answered.error().code;
    if (code != Errc::timeout && code != Errc::network && code != Errc::io) return std::move(answered).error();
    m_progress.note("ECUReset: " + answered.error().message + "; waiting for the ECU to come back");
  } else if (answered->has_value()) {
    // ISO 14229-1: powerDownTime (seconds) is the least time the ECU stays powered down.
    poll.first_delay = std::max(poll.first_delay, std::chrono::milliseconds(std::chrono::seconds(**answered)));
  }
  // Polled with a short listen: a request that reaches the ECU while it restarts is lost, and an
  // ECU that is back answers within a few ms; the P2 it announced is for an ECU that is up.
  auto back = wait_for_ecu(
      [&](std::chrono::milliseconds listen) -> Result<void> {
        m_client.set_answer_limit(listen);
        auto r = m_client.diagnostic_session_control(m_options.default_session);
        m_client.set_answer_limit(std::nullopt);
        if (!r) return std::move(r).error();
        return success();
      },
      m_hooks.reconnect, poll, EcuWait::nrc_retries);
  if (!back) {
    return make_error(back.error().code == Errc::interrupted ? Errc::interrupted : Errc::timeout,
                      fmt::format("ECU did not come back within {} ms after ECUReset (last: {})",
                                  std::max(poll.patience, poll.first_delay).count(), back.error().message));
  }
  return success();
}

Result<void> SequenceRun::erase(const ImageSource& image) {
  const Bytes no_record;
  if (!m_options.erase_per_segment) {
    ECUUP_ASSIGN(Bytes status, touching([&] {
                   return m_client.routine_control(k_routine_start, m_options.erase_routine, no_record);
                 }));
    return expect_status(status, m_options.erase_expected_status, m_options.erase_routine);
  }
  // A container names its erase ranges; otherwise each segment of the software erases its own.
  const std::vector<MemoryRange> ranges = image.ranges_to_erase();
  const bool own = image.erase_ranges().empty();
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const char* what = own ? "segment" : "range";
    if (interrupt_requested()) return interrupted_error(fmt::format("before the erase of {} {}", what, i + 1));
    ECUUP_TRY(m_client.keep_alive());
    auto record = encode_memory_range(m_options.memory_format, ranges[i].address, ranges[i].size);
    if (!record) return std::move(record).error().context("erase");
    auto erased =
        touching([&] { return m_client.routine_control(k_routine_start, m_options.erase_routine, *record); });
    const std::string where = fmt::format("erase {} {} at 0x{:08X}", what, i + 1, ranges[i].address);
    if (!erased) return std::move(erased).error().context(where);
    ECUUP_TRY(expect_status(*erased, m_options.erase_expected_status, m_options.erase_routine).with_context(where));
  }
  return success();
}

Result<Bytes> SequenceRun::transfer_block(std::uint8_t counter, ByteView data, const std::string& label) {
  // The silence that made us repeat the block is the cause of any failure that follows it.
  std::optional<Error> first_silence;
  for (int attempt = 0;; ++attempt) {
    auto response = m_client.transfer_data(counter, data, label);
    if (response) return response;
    if (response.error().code == Errc::timeout) {
      if (!first_silence) first_silence = response.error();
      // ISO 14229-1: an ECU answers a repeated block (same counter) positively without writing it twice.
      if (attempt < m_options.transfer_retries) {
        m_progress.note(label + ": no response, repeating the block");
        continue;
      }
      return std::move(*first_silence);
    }
    if (!first_silence) return response;
    return repeated_block_error(*first_silence, response.error(), m_client.last_nrc());
  }
}

Result<void> SequenceRun::download_segment(ImageSource& image, std::size_t index, const std::string& where,
                                           bool touches, bool last) {
  const auto seg = image.segments()[index];
  if (interrupt_requested()) return interrupted_error("before " + where);
  ECUUP_TRY(m_client.keep_alive());
  // Plain data goes with the configured data format; a segment that is compressed or encrypted
  // (by its container, or by encode()) with its own.
  MemoryFormat format = m_options.memory_format;
  if (seg.data_format) format.data_format = *seg.data_format;
  auto request = [&] { return m_client.request_download(format, seg.address, seg.size); };
  auto max_block = touches ? touching(request) : request();
  if (!max_block) return std::move(max_block).error().context(where);
  const std::size_t payload =
      transfer_payload_size(*max_block, m_client.link().max_message_size(), m_options.max_block_length);
  if (payload == 0) {
    return make_error(Errc::protocol, where + ": the link cannot carry a TransferData block with data");
  }
  Bytes buffer(static_cast<std::size_t>(std::min<std::uint64_t>(payload, seg.transfer_size)));
  std::uint8_t counter = 1;  // ISO 14229-1: starts at 01, wraps from FF to 00
  std::uint64_t offset = 0;
  const std::uint64_t done_before = m_done;
  for (std::uint64_t block = 1; offset < seg.transfer_size; ++block) {
    if (interrupt_requested()) return interrupted_error(fmt::format("in {} before block {}", where, block));
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(payload, seg.transfer_size - offset));
    std::span<std::uint8_t> chunk(buffer.data(), n);
    ECUUP_TRY(image.read(index, offset, chunk));
    const std::string label = fmt::format("TransferData block {}", block);
    auto send = [&] { return transfer_block(counter, chunk, label); };
    auto sent = touches ? touching(send) : send();
    if (!sent) return std::move(sent).error().context(where);
    offset += n;
    if (!seg.sbl) {
      // Progress counts memory bytes: a compressed segment advances by its share of them.
      m_done = done_before + (seg.transfer_size == seg.size ? offset : offset * seg.size / seg.transfer_size);
      m_progress.advance(m_done);
    }
    counter = static_cast<std::uint8_t>(counter + 1);
  }
  if (last && !m_finishing) {
    // The ECU took every block: finishing (exit, check, reset) is what leaves it runnable now.
    m_state.transferred = true;
    m_finishing.emplace();
  }
  ShieldIf shield(touches);
  auto exited = m_client.request_transfer_exit();
  if (!exited) return std::move(exited).error().context(where);
  return success();
}

Result<void> SequenceRun::download(ImageSource& image) {
  const auto& segments = image.segments();
  std::size_t last = segments.size();
  for (std::size_t i = 0; i < segments.size(); ++i)
    if (!segments[i].sbl) last = i;
  for (std::size_t i = 0, n = 0; i < segments.size(); ++i) {
    if (segments[i].sbl) continue;
    ++n;
    ECUUP_TRY(download_segment(image, i, fmt::format("segment {} at 0x{:08X}", n, segments[i].address), true, i == last));
  }
  return success();
}

// The secondary boot loader goes to RAM: nothing the ECU keeps is changed until its erase, so
// neither its download nor its start counts as touching the ECU.
Result<void> SequenceRun::boot_loader(ImageSource& image) {
  if (!image.sbl_call_address()) return success();
  const auto& segments = image.segments();
  for (std::size_t i = 0, n = 0; i < segments.size(); ++i) {
    if (!segments[i].sbl) continue;
    ++n;
    const std::string where = fmt::format("boot loader {} segment {} at 0x{:08X}", image.sbl_name(), n, segments[i].address);
    ECUUP_TRY(download_segment(image, i, where, false, false));
  }
  const std::uint32_t call = *image.sbl_call_address();
  const Bytes record{static_cast<std::uint8_t>(call >> 24), static_cast<std::uint8_t>(call >> 16),
                     static_cast<std::uint8_t>(call >> 8), static_cast<std::uint8_t>(call)};
  m_progress.note(fmt::format("starting boot loader {} at 0x{:08X}", image.sbl_name(), call));
  auto started = m_client.routine_control(k_routine_start, m_options.sbl_routine, record);
  if (!started)
    return std::move(started).error().context(fmt::format("start boot loader {} at 0x{:08X}", image.sbl_name(), call));
  return success();
}

Result<void> SequenceRun::upload(ImageWriter& out) {
  if (m_options.read_regions.empty()) return make_error(Errc::config, "upload: no memory regions configured");
  for (std::size_t i = 0; i < m_options.read_regions.size(); ++i) {
    const auto& region = m_options.read_regions[i];
    const std::string where = fmt::format("region {} at 0x{:08X}", i + 1, region.address);
    ECUUP_TRY(m_client.keep_alive());
    auto max_block = m_client.request_upload(m_options.memory_format, region.address, region.size);
    if (!max_block) return std::move(max_block).error().context(where);
    std::uint8_t counter = 1;
    std::uint64_t offset = 0;
    for (std::uint64_t block = 1; offset < region.size; ++block) {
      if (interrupt_requested()) return interrupted_error(fmt::format("in {} before block {}", where, block));
      const std::string label = fmt::format("TransferData block {}", block);
      auto data = transfer_block(counter, {}, label);
      if (!data) return std::move(data).error().context(where);
      if (data->empty() || data->size() > region.size - offset) {
        return make_error(Errc::protocol, fmt::format("{}: {}: ECU sent {} bytes with {} left to read", where, label,
                                                      data->size(), region.size - offset));
      }
      ECUUP_TRY(out.write(static_cast<std::uint32_t>(region.address + offset), *data));
      offset += data->size();
      m_done += data->size();
      m_progress.advance(m_done);
      counter = static_cast<std::uint8_t>(counter + 1);
    }
    auto exited = m_client.request_transfer_exit();
    if (!exited) return std::move(exited).error().context(where);
  }
  return success();
}

}  // namespace

WaitClock& system_wait_clock() {
  class SystemWaitClock final : public WaitClock {
   public:
    std::chrono::steady_clock::time_point now() override { return std::chrono::steady_clock::now(); }
    bool pause(std::chrono::milliseconds pause) override { return pause_unless_interrupted(pause); }
  };
  static SystemWaitClock clock;
  return clock;
}

Result<void> wait_for_ecu(const EcuAttempt& attempt, const std::function<Result<void>()>& reconnect,
                          const EcuPoll& poll, EcuWait mode, WaitClock& clock) {
  using std::chrono::milliseconds;
  const auto start = clock.now();
  const auto deadline = start + std::max(poll.patience, poll.first_delay);
  auto interval = poll.interval;
  auto due = start + poll.first_delay;  // when the next attempt begins
  bool need_reconnect = false;
  Error last = make_error(Errc::timeout, "no answer");
  for (;;) {
    if (const auto now = clock.now(); now < due) {
      if (!clock.pause(std::chrono::ceil<milliseconds>(due - now))) return interrupted_error("while waiting for the ECU");
    }
    if (interrupt_requested()) return interrupted_error("while waiting for the ECU");
    // The attempt after this one: a step of the backoff later, the last one on the deadline.
    due = std::min(clock.now() + interval, deadline);
    // Growing by half rather than doubling: an ECU back at T is met by T * 1.5 at the latest.
    interval = std::min(interval + std::max(interval / 2, milliseconds(1)), std::max(poll.interval, poll.max_interval));
    // Until a reconnect succeeds the client's link is gone: never send on it.
    if (need_reconnect) {
      auto reconnected = reconnect();
      if (reconnected) {
        need_reconnect = false;
      } else {
        last = std::move(reconnected).error();
      }
    }
    if (!need_reconnect) {
      // The last attempt listens as long as the ECU may take (its P2): its answer is the verdict.
      const bool last_attempt = clock.now() >= deadline;
      const auto listen = last_attempt ? milliseconds::max()
                                       : std::max(std::chrono::ceil<milliseconds>(due - clock.now()), k_min_poll_listen);
      auto r = attempt(listen);
      if (r) return success();
      last = std::move(r).error();
      const bool answered = last.code == Errc::negative_response;
      if (answered && mode == EcuWait::nrc_fails) return last;
      // Silence (timeout) and a dropped link (a DoIP entity closes TCP on reset) are worth waiting
      // out; anything else (config, protocol, key command) is not.
      const bool link_broken = last.code == Errc::network || last.code == Errc::io;
      if (!answered && last.code != Errc::timeout && !link_broken) return last;
      need_reconnect = link_broken && static_cast<bool>(reconnect);
    }
    if (clock.now() >= deadline) return last;
  }
}

bool uds_failure_is_transient(const Error& error, std::optional<std::uint8_t> last_nrc) {
  switch (error.code) {
    case Errc::timeout:
    case Errc::network:
    case Errc::io: return true;
    case Errc::negative_response:
      if (!last_nrc) return false;
      switch (*last_nrc) {
        case nrc::k_busy_repeat_request:
        case nrc::k_conditions_not_correct:
        case nrc::k_required_time_delay_not_expired:
        case nrc::k_service_not_supported_in_active_session:
        case nrc::k_sub_function_not_supported_in_active_session:
        case nrc::k_request_sequence_error:
        case nrc::k_security_access_denied: return true;
        default: return false;
      }
    default: return false;
  }
}

// The stage a step is shown as (Progress::stage).
const char* uds_step_stage(UdsStepKind kind) {
  switch (kind) {
    case UdsStepKind::default_session:
    case UdsStepKind::extended_session:
    case UdsStepKind::programming_session: return "session";
    case UdsStepKind::security_access: return "security";
    case UdsStepKind::sbl: return "boot loader";
    case UdsStepKind::erase: return "erase";
    case UdsStepKind::download: return "transfer";
    case UdsStepKind::upload: return "read";
    case UdsStepKind::check_dependencies: return "check";
    case UdsStepKind::reset: return "reset";
    case UdsStepKind::read_version: return "verify";
    default: return "prepare";
  }
}

const char* uds_step_name(UdsStepKind kind) {
  for (const auto& s : k_step_names) {
    if (s.kind == kind) return s.name;
  }
  return "?";
}

Result<UdsStepKind> parse_uds_step(const std::string& name) {
  std::string known;
  for (const auto& s : k_step_names) {
    if (s.kind == UdsStepKind::request) continue;
    if (name == s.name) return s.kind;
    known += known.empty() ? s.name : std::string(", ") + s.name;
  }
  return make_error(Errc::config,
                    fmt::format("unknown step '{}' (expected one of: {}, or request bytes in hex)", name, known));
}

std::vector<UdsStep> default_flash_steps() {
  using K = UdsStepKind;
  std::vector<UdsStep> steps;
  for (K k : {K::extended_session, K::dtc_setting_off, K::communication_off, K::programming_session,
              K::security_access, K::sbl, K::erase, K::download, K::check_dependencies, K::reset, K::read_version}) {
    steps.push_back({k, {}});
  }
  return steps;
}

std::vector<UdsStep> default_read_steps() {
  using K = UdsStepKind;
  std::vector<UdsStep> steps;
  for (K k : {K::extended_session, K::security_access, K::upload, K::default_session}) steps.push_back({k, {}});
  return steps;
}

std::size_t transfer_payload_size(std::size_t max_block_length, std::size_t link_max_message, std::size_t cap) {
  // maxNumberOfBlockLength counts the TransferData SID and block counter (ISO 14229-1 14.2).
  std::size_t block = max_block_length;
  if (link_max_message) block = std::min(block, link_max_message);
  if (cap) block = std::min(block, cap);
  return block > 2 ? block - 2 : 0;
}

Result<void> check_flash_steps(const std::vector<UdsStep>& steps, const ImageSource& image) {
  if (!image.sbl_call_address()) return success();
  auto at = [&](UdsStepKind kind) {
    return std::find_if(steps.begin(), steps.end(), [&](const UdsStep& s) { return s.kind == kind; });
  };
  if (at(UdsStepKind::sbl) == steps.end() || at(UdsStepKind::sbl) > at(UdsStepKind::erase))
    return make_error(Errc::config, fmt::format("the image carries the secondary boot loader {}, but the ECU's "
                                                "flash steps have no 'sbl' step before 'erase': add it",
                                                image.sbl_name()));
  return success();
}

Result<Bytes> run_flash_sequence(UdsClient& client, const UdsSequenceOptions& options, ImageSource& image,
                                 const UdsSequenceHooks& hooks, Progress& progress, const std::string& ecu,
                                 UdsFlashState* state) {
  ECUUP_TRY(check_flash_steps(options.flash_steps, image));
  SequenceRun run(client, options, hooks, progress);
  Bytes version;
  progress.begin(ecu, "flash", image.total_size());
  auto result = [&]() -> Result<void> {
    for (const auto& step : options.flash_steps) {
      if (interrupt_requested()) return interrupted_error(std::string("before step ") + uds_step_name(step.kind));
      ECUUP_TRY(client.keep_alive());
      progress.stage(uds_step_stage(step.kind));
      progress.note(std::string("step ") + uds_step_name(step.kind));
      switch (step.kind) {
        case UdsStepKind::erase: ECUUP_TRY(run.erase(image)); break;
        case UdsStepKind::download: ECUUP_TRY(run.download(image)); break;
        case UdsStepKind::sbl: {
          ShieldIf shield(run.shielding());
          ECUUP_TRY(run.boot_loader(image));
          break;
        }
        case UdsStepKind::read_version: {
          ShieldIf shield(run.shielding());
          ECUUP_ASSIGN(version, run.read_version());
          break;
        }
        case UdsStepKind::upload:
          return make_error(Errc::config, "step 'upload' belongs to the read-out steps");
        default: {
          ShieldIf shield(run.shielding());
          ECUUP_TRY(run.first_or_common(step, &step == &options.flash_steps.front()));
          break;
        }
      }
    }
    return success();
  }();
  if (state) *state = run.state();
  progress.end(result.ok());
  if (!result) return std::move(result).error();
  return version;
}

Result<void> run_read_sequence(UdsClient& client, const UdsSequenceOptions& options, ImageWriter& out,
                               const UdsSequenceHooks& hooks, Progress& progress, const std::string& ecu) {
  SequenceRun run(client, options, hooks, progress);
  std::uint64_t total = 0;
  for (const auto& r : options.read_regions) total += r.size;
  progress.begin(ecu, "read", total);
  auto result = [&]() -> Result<void> {
    for (const auto& step : options.read_steps) {
      if (interrupt_requested()) return interrupted_error(std::string("before step ") + uds_step_name(step.kind));
      ECUUP_TRY(client.keep_alive());
      progress.stage(uds_step_stage(step.kind));
      progress.note(std::string("step ") + uds_step_name(step.kind));
      switch (step.kind) {
        case UdsStepKind::upload: ECUUP_TRY(run.upload(out)); break;
        case UdsStepKind::read_version: ECUUP_TRY(run.read_version()); break;
        case UdsStepKind::erase:
        case UdsStepKind::download:
        case UdsStepKind::sbl:
          return make_error(Errc::config, std::string("step '") + uds_step_name(step.kind) +
                                              "' is not allowed in the read-out steps");
        default: ECUUP_TRY(run.first_or_common(step, &step == &options.read_steps.front())); break;
      }
    }
    return success();
  }();
  progress.end(result.ok());
  return result;
}

}  // namespace ecuup
