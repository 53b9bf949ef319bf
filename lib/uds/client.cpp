#include "uds/client.hpp"
#include "util/diag_log.hpp"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "util/cancel.hpp"

namespace ecuup {

namespace {

constexpr std::uint8_t k_tester_present_zero_sub_function = 0x00;
// Session response: 50 ss P2(2 bytes, 1 ms) P2*(2 bytes, 10 ms) (ISO 14229-1 Table 29).
constexpr std::size_t k_session_timing_size = 6;
constexpr int k_p2_star_unit_ms = 10;
// ECUReset's powerDownTime: 0x00-0xFE seconds, 0xFF a failure or no time available (ISO 14229-1).
constexpr std::uint8_t k_power_down_time_unavailable = 0xFF;
// A stale queue longer than this is not answers to requests we gave up on but a babbling peer.
constexpr int k_max_drained_messages = 64;
// Pauses before repeating a request are cut into slices so an interruption is noticed promptly.
constexpr std::chrono::milliseconds k_pause_slice{50};

using SteadyClock = std::chrono::steady_clock;

// What a positive response repeats of its request (ISO 14229-1): the sub-function (bit 7, the
// suppressPosRspMsgIndicationBit, not echoed), a DID, a routine's control type and id, a block
// counter. A response that echoes something else answers another request.
struct Echo {
  std::size_t length = 0;       // bytes after the SID
  bool sub_function = false;    // the first of them is a sub-function
};

Echo echo_of(std::uint8_t service) {
  switch (service) {
    case sid::k_diagnostic_session_control:
    case sid::k_ecu_reset:
    case sid::k_read_dtc_information:
    case sid::k_security_access:
    case sid::k_communication_control:
    case sid::k_tester_present:
    case sid::k_control_dtc_setting: return {1, true};
    case sid::k_read_data_by_identifier:
    case sid::k_write_data_by_identifier:
    case sid::k_input_output_control_by_identifier: return {2, false};
    case sid::k_routine_control: return {3, true};
    case sid::k_transfer_data: return {1, false};
    default: return {};
  }
}

bool echoes(ByteView request, const Bytes& response) {
  const Echo echo = echo_of(request[0]);
  // A request too short to carry what is echoed (a raw step) leaves nothing to compare.
  if (echo.length == 0 || request.size() < 1 + echo.length) return true;
  if (response.size() < 1 + echo.length) return false;
  for (std::size_t i = 1; i <= echo.length; ++i) {
    std::uint8_t want = request[i];
    if (i == 1 && echo.sub_function) want &= static_cast<std::uint8_t>(~sid::k_suppress_positive_response);
    if (response[i] != want) return false;
  }
  return true;
}

void put_be(Bytes& out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = bytes; i-- > 0;) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

std::uint16_t be16(const Bytes& b, std::size_t at) { return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]); }

Error protocol_error(const std::string& label, const std::string& message) {
  return make_error(Errc::protocol, label + ": " + message);
}

}  // namespace

bool pause_unless_interrupted(std::chrono::milliseconds pause) {
  const auto until = SteadyClock::now() + pause;
  for (;;) {
    if (interrupt_requested()) return false;
    const auto now = SteadyClock::now();
    if (now >= until) return true;
    std::this_thread::sleep_for(std::min<SteadyClock::duration>(until - now, k_pause_slice));
  }
}

Result<Bytes> encode_memory_range(const MemoryFormat& format, std::uint64_t address, std::uint64_t size) {
  if (format.address_bytes < 1 || format.address_bytes > 5 || format.size_bytes < 1 || format.size_bytes > 4) {
    return make_error(Errc::config, fmt::format("unsupported address/size length {}/{} (address 1-5, size 1-4 bytes)",
                                                format.address_bytes, format.size_bytes));
  }
  if (format.address_bytes < 8 && address >> (8 * format.address_bytes) != 0) {
    return make_error(Errc::config,
                      fmt::format("address 0x{:x} does not fit in {} bytes", address, format.address_bytes));
  }
  if (size >> (8 * format.size_bytes) != 0) {
    return make_error(Errc::config, fmt::format("size {} does not fit in {} bytes", size, format.size_bytes));
  }
  Bytes out;
  out.push_back(static_cast<std::uint8_t>(format.size_bytes << 4 | format.address_bytes));
  put_be(out, address, format.address_bytes);
  put_be(out, size, format.size_bytes);
  return out;
}

UdsClient::UdsClient(DiagLink& link, UdsClientOptions options, Progress* notes)
    : m_link(&link),
      m_options(options),
      m_timing(options.timing),
      m_notes(notes),
      m_clock([] { return std::chrono::steady_clock::now(); }),
      m_last_send(m_clock()) {}

void UdsClient::set_clock(Clock clock) {
  m_clock = std::move(clock);
  m_last_send = m_clock();
}

void UdsClient::note(const std::string& message) {
  if (m_notes) m_notes->note(message);
}

Result<Bytes> UdsClient::request(ByteView req, const std::string& label_in) {
  if (req.empty()) return make_error(Errc::internal, "empty UDS request");
  const std::uint8_t service = req[0];
  const std::string label = label_in.empty() ? service_name(service) : label_in;
  const auto started = SteadyClock::now();
  for (int repeats = 0;; ++repeats) {
    if (m_stale_possible) drain_stale(label);
    m_last_nrc.reset();
    if (diag_log_on(k_diag_uds)) diag_log(k_diag_uds, fmt::format("UDS -> {}: {}", label, diag_hex(req)));
    if (m_link->can_reach_ecu()) ++m_offered;
    auto sent = m_link->send(req);
    m_last_send = m_clock();
    if (!sent) return std::move(sent).error().context(label);
    auto response = await_response(req, label);
    if (response || !m_last_nrc) return response;
    const auto pause = retry_pause(*m_last_nrc, repeats, started);
    if (!pause) return response;
    note(fmt::format("{}: ECU answered {} (0x{:02X}), asking again in {} ms", label, nrc_name(*m_last_nrc),
                     *m_last_nrc, pause->count()));
    if (!pause_unless_interrupted(*pause)) {
      return make_error(Errc::interrupted, fmt::format("{}: interrupted while waiting to ask again ({})", label,
                                                       response.error().message));
    }
  }
}

std::optional<std::chrono::milliseconds> UdsClient::retry_pause(std::uint8_t code, int repeats_so_far,
                                                                SteadyClock::time_point started) {
  std::chrono::milliseconds pause{0};
  std::chrono::milliseconds patience{0};
  switch (code) {
    case nrc::k_busy_repeat_request:
      if (!m_retry_deadline && repeats_so_far >= m_options.busy_retries) return std::nullopt;
      pause = m_options.busy_delay;
      patience = std::chrono::milliseconds::max();
      break;
    case nrc::k_required_time_delay_not_expired:
      pause = m_options.time_delay_wait;
      patience = m_options.time_delay_patience;
      break;
    case nrc::k_conditions_not_correct: {
      // Backing off: conditions (voltage, an ECU still starting) change slowly.
      pause = m_options.conditions_delay;
      for (int i = 0; i < repeats_so_far && pause < m_options.conditions_delay_max; ++i) pause *= 2;
      pause = std::min(pause, m_options.conditions_delay_max);
      patience = m_options.conditions_patience;
      break;
    }
    default:
      return std::nullopt;
  }
  const auto now = SteadyClock::now();
  const auto limit = m_retry_deadline ? *m_retry_deadline
                     : patience == std::chrono::milliseconds::max() ? SteadyClock::time_point::max()
                                                                     : started + patience;
  if (now >= limit) return std::nullopt;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(limit - now);
  return std::min(pause, left);
}

void UdsClient::drain_stale(const std::string& label) {
  m_stale_possible = false;
  for (int i = 0; i < k_max_drained_messages; ++i) {
    auto stale = m_link->receive(std::chrono::milliseconds(0));
    if (!stale) return;
    note(fmt::format("{}: discarding {} received after its request was given up", label, to_hex(*stale, " ")));
  }
}

Result<Bytes> UdsClient::await_response(ByteView req, const std::string& label) {
  const std::uint8_t service = req[0];
  auto timeout = m_timing.p2 + m_options.margin;
  const char* timer = "P2";
  if (m_answer_limit && *m_answer_limit < timeout) {
    timeout = *m_answer_limit;
    timer = "poll interval";
  }
  auto deadline = SteadyClock::now() + timeout;
  std::string discarded;  // what arrived but was no answer, for the timeout's message
  int discarded_count = 0;
  auto discard = [&](const Bytes& msg, const std::string& why) {
    note(fmt::format("{}: discarding {} ({})", label, to_hex(msg, " "), why));
    if (discarded_count++ == 0) discarded = fmt::format("{} ({})", to_hex(msg, " "), why);
  };
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
    auto received = left.count() > 0 ? m_link->receive(left) : Result<Bytes>(make_error(Errc::timeout, "no time left"));
    if (!received) {
      if (received.error().code == Errc::timeout) {
        m_stale_possible = true;
        std::string message =
            fmt::format("{}: no response from the ECU within {} ms ({})", label, timeout.count(), timer);
        if (discarded_count > 0) {
          message += fmt::format("; discarded {} message{} that answered no request of ours: {}", discarded_count,
                                 discarded_count == 1 ? "" : "s", discarded);
        }
        return make_error(Errc::timeout, std::move(message));
      }
      if (received.error().code == Errc::interrupted) m_stale_possible = true;
      return std::move(received).error().context(label);
    }
    Bytes msg = std::move(received).value();
    if (diag_log_on(k_diag_uds)) {
      if (msg.size() >= 3 && msg[0] == sid::k_negative_response)
        diag_log(k_diag_uds, fmt::format("UDS <- {}: negative response to {}: {} (0x{:02X})", label, service_name(msg[1]),
                                         nrc_name(msg[2]), msg[2]));
      else
        diag_log(k_diag_uds, fmt::format("UDS <- {}: {}", label, diag_hex(msg)));
    }
    if (msg.empty()) {
      discard(msg, "empty");
      continue;
    }
    if (msg[0] == sid::k_negative_response) {
      if (msg.size() < 2 || msg[1] != service) {
        // An NRC to another service: an earlier request's (a suppressed TesterPresent, one we gave up on).
        discard(msg, msg.size() < 2 ? "truncated negative response" : "negative response to another service");
        continue;
      }
      if (msg.size() < 3) return protocol_error(label, "truncated negative response " + to_hex(msg, " "));
      if (msg[2] == nrc::k_response_pending) {
        // ISO 14229-2: after 0x78 the client waits P2*, restarting it on every further 0x78.
        timeout = m_timing.p2_star + m_options.margin;
        deadline = SteadyClock::now() + timeout;
        timer = "P2* after responsePending";
        continue;
      }
      m_last_nrc = msg[2];
      return make_error(Errc::negative_response,
                        fmt::format("{}: ECU answered {} (0x{:02X})", label, nrc_name(msg[2]), msg[2]));
    }
    if (msg[0] != static_cast<std::uint8_t>(service + sid::k_positive_offset)) {
      discard(msg, fmt::format("response SID 0x{:02X}, expected 0x{:02X}", msg[0],
                               static_cast<std::uint8_t>(service + sid::k_positive_offset)));
      continue;
    }
    if (!echoes(req, msg)) {
      discard(msg, "echoes another request");
      continue;
    }
    return msg;
  }
}

Result<void> UdsClient::send_suppressed(ByteView req) {
  if (diag_log_on(k_diag_uds))
    diag_log(k_diag_uds, fmt::format("UDS -> {} (no response asked): {}", service_name(req.empty() ? 0 : req[0]), diag_hex(req)));
  if (m_link->can_reach_ecu()) ++m_offered;
  auto sent = m_link->send(req);
  m_last_send = m_clock();
  if (!sent) return std::move(sent).error().context(service_name(req.empty() ? 0 : req[0]));
  return success();
}

Result<void> UdsClient::keep_alive() {
  if (m_options.tester_present_interval.count() <= 0) return success();
  if (m_clock() - m_last_send < m_options.tester_present_interval) return success();
  const std::uint8_t req[] = {sid::k_tester_present,
                              k_tester_present_zero_sub_function | sid::k_suppress_positive_response};
  return send_suppressed(req);
}

Result<UdsTiming> UdsClient::diagnostic_session_control(std::uint8_t session) {
  const std::uint8_t req[] = {sid::k_diagnostic_session_control, session};
  const std::string label = fmt::format("DiagnosticSessionControl 0x{:02X}", session);
  ECUUP_ASSIGN(Bytes rsp, request(req, label));
  if (rsp.size() >= k_session_timing_size) {
    m_timing.p2 = std::chrono::milliseconds(be16(rsp, 2));
    m_timing.p2_star = std::chrono::milliseconds(be16(rsp, 4) * k_p2_star_unit_ms);
  }
  return m_timing;
}

Result<std::optional<std::uint8_t>> UdsClient::ecu_reset(std::uint8_t reset_type) {
  const std::uint8_t req[] = {sid::k_ecu_reset, reset_type};
  const std::string label = fmt::format("ECUReset 0x{:02X}", reset_type);
  ECUUP_ASSIGN(Bytes rsp, request(req, label));
  std::optional<std::uint8_t> power_down;
  if (rsp.size() >= 3 && rsp[2] != k_power_down_time_unavailable) power_down = rsp[2];
  return power_down;
}

Result<Bytes> UdsClient::read_data_by_identifier(std::uint16_t did) {
  const std::uint8_t req[] = {sid::k_read_data_by_identifier, static_cast<std::uint8_t>(did >> 8),
                              static_cast<std::uint8_t>(did)};
  const std::string label = fmt::format("ReadDataByIdentifier 0x{:04X}", did);
  ECUUP_ASSIGN(Bytes rsp, request(req, label));
  return Bytes(rsp.begin() + 3, rsp.end());
}

Result<void> UdsClient::write_data_by_identifier(std::uint16_t did, ByteView data) {
  Bytes req = {sid::k_write_data_by_identifier, static_cast<std::uint8_t>(did >> 8), static_cast<std::uint8_t>(did)};
  req.insert(req.end(), data.begin(), data.end());
  const std::string label = fmt::format("WriteDataByIdentifier 0x{:04X}", did);
  ECUUP_TRY(request(req, label));
  return success();
}

Result<Bytes> UdsClient::security_access_request_seed(std::uint8_t level) {
  const std::uint8_t req[] = {sid::k_security_access, level};
  const std::string label = fmt::format("SecurityAccess requestSeed 0x{:02X}", level);
  ECUUP_ASSIGN(Bytes rsp, request(req, label));
  return Bytes(rsp.begin() + 2, rsp.end());
}

Result<void> UdsClient::security_access_send_key(std::uint8_t level, ByteView key) {
  const std::uint8_t send_key = static_cast<std::uint8_t>(level + 1);
  Bytes req = {sid::k_security_access, send_key};
  req.insert(req.end(), key.begin(), key.end());
  const std::string label = fmt::format("SecurityAccess sendKey 0x{:02X}", send_key);
  ECUUP_TRY(request(req, label));
  return success();
}

Result<void> UdsClient::communication_control(std::uint8_t control_type, std::uint8_t communication_type) {
  const std::uint8_t req[] = {sid::k_communication_control, control_type, communication_type};
  const std::string label = fmt::format("CommunicationControl 0x{:02X}", control_type);
  ECUUP_TRY(request(req, label));
  return success();
}

Result<void> UdsClient::control_dtc_setting(std::uint8_t setting_type) {
  const std::uint8_t req[] = {sid::k_control_dtc_setting, setting_type};
  const std::string label = fmt::format("ControlDTCSetting 0x{:02X}", setting_type);
  ECUUP_TRY(request(req, label));
  return success();
}

Result<Bytes> UdsClient::routine_control(std::uint8_t control_type, std::uint16_t routine_id, ByteView option_record) {
  Bytes req = {sid::k_routine_control, control_type, static_cast<std::uint8_t>(routine_id >> 8),
               static_cast<std::uint8_t>(routine_id)};
  req.insert(req.end(), option_record.begin(), option_record.end());
  const std::string label = fmt::format("RoutineControl 0x{:04X}", routine_id);
  ECUUP_ASSIGN(Bytes rsp, request(req, label));
  return Bytes(rsp.begin() + 4, rsp.end());
}

Result<std::size_t> UdsClient::request_transfer(std::uint8_t service, const MemoryFormat& format,
                                                std::uint32_t address, std::uint64_t size) {
  const std::string label = service_name(service);
  auto range = encode_memory_range(format, address, size);
  if (!range) return std::move(range).error().context(label);
  Bytes req = {service, format.data_format};
  req.insert(req.end(), range->begin(), range->end());
  ECUUP_ASSIGN(Bytes rsp, request(req, label));
  // lengthFormatIdentifier: high nibble = bytes of maxNumberOfBlockLength.
  if (rsp.size() < 2) return protocol_error(label, "response lacks lengthFormatIdentifier");
  std::size_t n = rsp[1] >> 4;
  if (n < 1 || n > sizeof(std::size_t) || rsp.size() < 2 + n) {
    return protocol_error(label, fmt::format("malformed maxNumberOfBlockLength (lengthFormatIdentifier 0x{:02X}, "
                                             "{} bytes follow)", rsp[1], rsp.size() - 2));
  }
  std::size_t max_block = 0;
  for (std::size_t i = 0; i < n; ++i) max_block = max_block << 8 | rsp[2 + i];
  // The block length counts the SID and the counter: less than 3 leaves no room for data.
  if (max_block < 3) return protocol_error(label, fmt::format("maxNumberOfBlockLength {} is too small", max_block));
  return max_block;
}

Result<std::size_t> UdsClient::request_download(const MemoryFormat& format, std::uint32_t address,
                                                std::uint64_t size) {
  return request_transfer(sid::k_request_download, format, address, size);
}

Result<std::size_t> UdsClient::request_upload(const MemoryFormat& format, std::uint32_t address, std::uint64_t size) {
  return request_transfer(sid::k_request_upload, format, address, size);
}

Result<Bytes> UdsClient::transfer_data(std::uint8_t block_counter, ByteView data, const std::string& label_in) {
  Bytes req;
  req.reserve(2 + data.size());
  req.push_back(sid::k_transfer_data);
  req.push_back(block_counter);
  req.insert(req.end(), data.begin(), data.end());
  const std::string label =
      label_in.empty() ? fmt::format("TransferData counter 0x{:02X}", block_counter) : label_in;
  // request() discards answers that echo another counter (a late answer to a repeated block).
  ECUUP_ASSIGN(Bytes rsp, request(req, label));
  return Bytes(rsp.begin() + 2, rsp.end());
}

Result<Bytes> UdsClient::request_transfer_exit(ByteView parameter_record) {
  Bytes req = {sid::k_request_transfer_exit};
  req.insert(req.end(), parameter_record.begin(), parameter_record.end());
  ECUUP_ASSIGN(Bytes rsp, request(req));
  return Bytes(rsp.begin() + 1, rsp.end());
}

Result<void> UdsClient::tester_present() {
  const std::uint8_t req[] = {sid::k_tester_present, k_tester_present_zero_sub_function};
  ECUUP_TRY(request(req));
  return success();
}

Result<void> UdsClient::clear_diagnostic_information(std::uint32_t group_of_dtc) {
  const std::uint8_t req[] = {sid::k_clear_diagnostic_information, static_cast<std::uint8_t>(group_of_dtc >> 16),
                              static_cast<std::uint8_t>(group_of_dtc >> 8), static_cast<std::uint8_t>(group_of_dtc)};
  ECUUP_TRY(request(req));
  return success();
}

Result<Bytes> UdsClient::read_dtc_information(std::uint8_t report_type, ByteView parameters) {
  Bytes req = {sid::k_read_dtc_information, report_type};
  req.insert(req.end(), parameters.begin(), parameters.end());
  const std::string label = fmt::format("ReadDTCInformation 0x{:02X}", report_type);
  ECUUP_ASSIGN(Bytes rsp, request(req, label));
  return Bytes(rsp.begin() + 2, rsp.end());
}

}  // namespace ecuup
