#pragma once
// A UDS (ISO 14229-1) client over one DiagLink: request/response with P2/P2* timing, responses
// matched to their request (stale and foreign ones discarded), NRCs 0x21/0x22/0x37/0x78 waited
// out, and one method per service ecuup uses.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "transport/link.hpp"
#include "uds/nrc.hpp"
#include "util/bytes.hpp"
#include "util/progress.hpp"
#include "util/result.hpp"

namespace ecuup {

// Server timing as announced in the DiagnosticSessionControl response (ISO 14229-2 defaults).
struct UdsTiming {
  std::chrono::milliseconds p2{50};
  std::chrono::milliseconds p2_star{5000};
};

struct UdsClientOptions {
  UdsTiming timing;  // until a session response announces other values
  // Added to P2 and P2*: transport and scheduling latency on the tester side.
  std::chrono::milliseconds margin{100};
  // Idle time after which keep_alive() sends TesterPresent (3E 80); 0 = never.
  std::chrono::milliseconds tester_present_interval{2000};
  // NRC 0x21 busyRepeatRequest: how often to repeat, and how long to wait in between.
  int busy_retries = 3;
  std::chrono::milliseconds busy_delay{200};
  // NRC 0x37 requiredTimeDelayNotExpired (an ECU refuses SecurityAccess for a while after power-on
  // or a wrong key): the pause before asking again, and how long to keep asking in all.
  std::chrono::milliseconds time_delay_wait{1000};
  std::chrono::milliseconds time_delay_patience{10000};
  // NRC 0x22 conditionsNotCorrect: the first pause (doubling up to conditions_delay_max) and how
  // long to keep asking in all.
  std::chrono::milliseconds conditions_delay{250};
  std::chrono::milliseconds conditions_delay_max{2000};
  std::chrono::milliseconds conditions_patience{5000};
};

// addressAndLengthFormatIdentifier and dataFormatIdentifier of 0x34/0x35 and of the erase
// routine's option record.
struct MemoryFormat {
  std::uint8_t address_bytes = 4;  // 1..5
  std::uint8_t size_bytes = 4;     // 1..4
  std::uint8_t data_format = 0x00; // 0x00 = neither compressed nor encrypted
};

// Sleeps `pause` in short slices; false as soon as interrupt_requested() (then without the rest).
bool pause_unless_interrupted(std::chrono::milliseconds pause);

// addressAndLengthFormatIdentifier, memoryAddress, memorySize.
Result<Bytes> encode_memory_range(const MemoryFormat& format, std::uint64_t address, std::uint64_t size);

class UdsClient {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit UdsClient(DiagLink& link, UdsClientOptions options = {}, Progress* notes = nullptr);

  // Swaps the link (after a reconnect, e.g. a DoIP entity dropped TCP on reset).
  void set_link(DiagLink& link) { m_link = &link; }
  // Recovery: NRCs 0x21, 0x22 and 0x37 are asked again until `deadline` instead of within the
  // limits of UdsClientOptions; nullopt returns to those limits.
  void set_retry_deadline(std::optional<std::chrono::steady_clock::time_point> deadline) {
    m_retry_deadline = deadline;
  }
  DiagLink& link() { return *m_link; }
  void set_clock(Clock clock);
  // Caps the wait for the first answer to a request (P2; not P2* after 0x78): polling an ECU that
  // restarts, a request it gets while rebooting is lost, so waiting a long P2 for it only delays
  // the next one. nullopt: P2 again.
  void set_answer_limit(std::optional<std::chrono::milliseconds> limit) { m_answer_limit = limit; }

  // Sends `request`, returns the positive response. Errc::negative_response names the NRC,
  // Errc::timeout when the ECU stays silent past P2 (or P2* after 0x78). A message that is no
  // answer to `request` (another SID, or another session, DID, routine, block counter, reset type
  // or security level echoed) is discarded and the wait goes on (ISO 14229-2); after a timeout,
  // messages already received are discarded before the next request is sent, so a late answer
  // is never taken for the next request's. `label` prefixes errors (default: the service name).
  Result<Bytes> request(ByteView request, const std::string& label = {});
  // Sends without waiting for an answer (suppressPosRspMsgIndicationBit set).
  Result<void> send_suppressed(ByteView request);
  // TesterPresent with the positive response suppressed when the link was idle too long.
  Result<void> keep_alive();

  // 0x10; adopts the P2/P2* the ECU announces and returns them.
  Result<UdsTiming> diagnostic_session_control(std::uint8_t session);
  // 0x11; returns powerDownTime in seconds when the ECU sent one (0xFF says it has none).
  Result<std::optional<std::uint8_t>> ecu_reset(std::uint8_t reset_type);
  Result<Bytes> read_data_by_identifier(std::uint16_t did);
  Result<void> write_data_by_identifier(std::uint16_t did, ByteView data);
  // 0x27: `level` is the odd requestSeed sub-function; the key goes to level + 1.
  Result<Bytes> security_access_request_seed(std::uint8_t level);
  Result<void> security_access_send_key(std::uint8_t level, ByteView key);
  Result<void> communication_control(std::uint8_t control_type, std::uint8_t communication_type);
  Result<void> control_dtc_setting(std::uint8_t setting_type);
  // 0x31: returns the routineStatusRecord (may be empty).
  Result<Bytes> routine_control(std::uint8_t control_type, std::uint16_t routine_id, ByteView option_record);
  // 0x34 / 0x35: returns maxNumberOfBlockLength (which counts the SID and the block counter).
  Result<std::size_t> request_download(const MemoryFormat& format, std::uint32_t address, std::uint64_t size);
  Result<std::size_t> request_upload(const MemoryFormat& format, std::uint32_t address, std::uint64_t size);
  // 0x36: returns the transferResponseParameterRecord (the data, for an upload).
  Result<Bytes> transfer_data(std::uint8_t block_counter, ByteView data, const std::string& label = {});
  Result<Bytes> request_transfer_exit(ByteView parameter_record = {});
  Result<void> tester_present();
  // 0x14: groupOfDTC is 3 bytes; 0xFFFFFF = all groups.
  Result<void> clear_diagnostic_information(std::uint32_t group_of_dtc = 0xFFFFFF);
  // 0x19: returns the response after the echoed sub-function.
  Result<Bytes> read_dtc_information(std::uint8_t report_type, ByteView parameters);

  const UdsTiming& timing() const { return m_timing; }
  // The NRC of the last negative response, if the last request ended in one.
  std::optional<std::uint8_t> last_nrc() const { return m_last_nrc; }
  // Requests handed to a link that could reach the ECU (sent, or failed while being sent); a
  // request offered only to a link that was never opened cannot have changed the ECU.
  std::uint64_t requests_offered() const { return m_offered; }

 private:
  Result<std::size_t> request_transfer(std::uint8_t service, const MemoryFormat& format, std::uint32_t address,
                                       std::uint64_t size);
  Result<Bytes> await_response(ByteView request, const std::string& label);
  // Reads and drops what the link already holds (answers to requests given up on).
  void drain_stale(const std::string& label);
  // How long to pause before repeating a request the ECU answered with `code`; nullopt: do not.
  std::optional<std::chrono::milliseconds> retry_pause(std::uint8_t code, int repeats_so_far,
                                                       std::chrono::steady_clock::time_point started);
  void note(const std::string& message);

  DiagLink* m_link;
  UdsClientOptions m_options;
  UdsTiming m_timing;
  Progress* m_notes;
  Clock m_clock;
  std::chrono::steady_clock::time_point m_last_send{};
  std::uint64_t m_offered = 0;
  std::optional<std::uint8_t> m_last_nrc;
  std::optional<std::chrono::steady_clock::time_point> m_retry_deadline;
  std::optional<std::chrono::milliseconds> m_answer_limit;
  bool m_stale_possible = false;  // a request timed out: its answer may still come
};

}  // namespace ecuup
