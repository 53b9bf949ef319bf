#pragma once
// The UDS programming and read-out sequences as a list of steps, so an ECU without e.g.
// CommunicationControl drops that step in its config instead of needing code.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "uds/client.hpp"
#include "util/image.hpp"
#include "util/progress.hpp"
#include "util/result.hpp"

namespace ecuup {

enum class UdsStepKind {
  default_session,      // 10 01
  extended_session,     // 10 03
  programming_session,  // 10 02
  dtc_setting_off,      // 85 02
  dtc_setting_on,       // 85 01
  communication_off,    // 28 03 01
  communication_on,     // 28 00 01
  security_access,      // 27 odd / 27 even
  sbl,                  // the image's secondary boot loader: 34/36/37 per SBL segment, then 31 01 0301 + call address; nothing without one
  erase,                // 31 01 FF00 + address/size per segment (or per erase range of a container)
  download,             // per segment 34, 36 x N, 37
  check_dependencies,   // 31 01 FF01
  reset,                // 11 01, then wait until the ECU answers again
  read_version,         // 22 F189
  upload,               // per read-out region 35, 36 x N, 37
  tester_present,       // 3E 00
  request,              // a raw request from the config; must be answered positively
};

struct UdsStep {
  UdsStepKind kind = UdsStepKind::request;
  Bytes request;  // for UdsStepKind::request
};

// "extended_session" etc.; "request" steps are written as their hex bytes in the config.
const char* uds_step_name(UdsStepKind kind);
// The progress stage a step is shown as: session, security, boot loader, erase, transfer, check, reset, verify, read, prepare.
const char* uds_step_stage(UdsStepKind kind);
Result<UdsStepKind> parse_uds_step(const std::string& name);

using MemoryRegion = MemoryRange;

struct UdsSequenceOptions {
  std::uint8_t default_session = 0x01;
  std::uint8_t extended_session = 0x03;
  std::uint8_t programming_session = 0x02;
  std::uint8_t security_level = 0x01;  // requestSeed sub-function (odd); sendKey is +1
  std::uint8_t dtc_setting_off = 0x02;
  std::uint8_t dtc_setting_on = 0x01;
  std::uint8_t communication_control_off = 0x03;  // disableRxAndTx
  std::uint8_t communication_control_on = 0x00;   // enableRxAndTx
  std::uint8_t communication_type = 0x01;         // normalCommunicationMessages
  std::uint16_t erase_routine = 0xFF00;
  // Starts a downloaded secondary boot loader; its option record is the call address (4 bytes).
  std::uint16_t sbl_routine = 0x0301;
  // true: one erase per segment with its address/size as option record; false: one erase, no record.
  bool erase_per_segment = true;
  // Non-empty: the routineStatusRecord must start with these bytes (the meaning is OEM-specific).
  Bytes erase_expected_status;
  std::uint16_t check_routine = 0xFF01;
  Bytes check_option_record;
  Bytes check_expected_status;
  std::uint8_t reset_type = 0x01;  // hardReset
  std::uint16_t version_did = 0xF189;
  MemoryFormat memory_format;
  std::size_t max_block_length = 0;  // cap on the ECU's maxNumberOfBlockLength; 0 = none
  int transfer_retries = 2;          // repeats of a TransferData block that timed out
  // After ECUReset: the first poll's delay (at least the powerDownTime the ECU announces), then the
  // first interval between polls, growing by half up to 2 s. Also the first interval while the
  // first request of a run meets an ECU that is not there yet.
  std::chrono::milliseconds reset_delay{10};
  // Until an ECU must answer the first request (and be connected), and after ECUReset (counted
  // from its answer); the driver puts what is left of its recovery window here in recovery mode.
  std::chrono::milliseconds reset_timeout{15000};
  std::vector<UdsStep> flash_steps;
  std::vector<UdsStep> read_steps;
  std::vector<MemoryRegion> read_regions;
};

std::vector<UdsStep> default_flash_steps();
std::vector<UdsStep> default_read_steps();

// What the sequence needs from outside the UDS layer.
struct UdsSequenceHooks {
  // seed -> key for the requestSeed sub-function `level`.
  std::function<Result<Bytes>(ByteView seed, std::uint8_t level)> compute_key;
  // Re-opens the link after a reset dropped it (DoIP closes TCP); may be empty.
  std::function<Result<void>()> reconnect;
};

// What a flash run did to the ECU, for the caller to decide whether to restore it.
struct UdsFlashState {
  // A request that changes the ECU's memory (the erase routine, RequestDownload, TransferData)
  // was sent and not refused (a negative response other than generalProgrammingFailure means the
  // ECU did not carry it out). false: the ECU still holds what it held before.
  bool touched = false;
  // Every block of the image was transferred: the ECU holds the new software, so the run finishes
  // (transfer exit, check, reset) whatever interruption is requested.
  bool transferred = false;
};

// Whether `steps` can program `image`: an image with a secondary boot loader needs an `sbl` step
// before `erase`. Errc::config otherwise, before anything is sent.
Result<void> check_flash_steps(const std::vector<UdsStep>& steps, const ImageSource& image);

// Runs `options.flash_steps` with `image`; progress counts image bytes (memory bytes, before
// compression; the SBL's are not counted). The version read in a
// read_version step (if any) is returned raw. An interruption (interrupt_requested()) stops the run
// with Errc::interrupted at once before the first erase, after it only before a TransferData block,
// a segment or a step, and not at all once every block was transferred. `state` (may be null)
// receives what the run did, also when it fails.
Result<Bytes> run_flash_sequence(UdsClient& client, const UdsSequenceOptions& options, ImageSource& image,
                                 const UdsSequenceHooks& hooks, Progress& progress, const std::string& ecu,
                                 UdsFlashState* state = nullptr);
// Runs `options.read_steps`; the upload step reads `options.read_regions` into `out`.
Result<void> run_read_sequence(UdsClient& client, const UdsSequenceOptions& options, ImageWriter& out,
                               const UdsSequenceHooks& hooks, Progress& progress, const std::string& ecu);

// Whether a negative response ends wait_for_ecu (the ECU answered) or is waited out too (an ECU
// that just restarted may refuse requests until it is ready).
enum class EcuWait { nrc_fails, nrc_retries };

// The time seam of waiting for an ECU: tests swap in a fake clock.
class WaitClock {
 public:
  virtual ~WaitClock() = default;
  virtual std::chrono::steady_clock::time_point now() = 0;
  // Sleeps `pause`; false as soon as an interruption is requested (interrupt_requested()).
  virtual bool pause(std::chrono::milliseconds pause) = 0;
};
// steady_clock and pause_unless_interrupted.
WaitClock& system_wait_clock();

// When to ask an ECU that is restarting or still booting, counted from the start of the wait.
struct EcuPoll {
  std::chrono::milliseconds first_delay{0};  // before the first attempt
  // From the start of one attempt to the next, growing by half (at least 1 ms) up to max_interval.
  // An attempt listens for its answer until the next is due (at least k_min_poll_listen).
  std::chrono::milliseconds interval{10};
  std::chrono::milliseconds max_interval{2000};
  // No attempt begins later than this after the start (the last one falls on it); at least one
  // attempt is made, after first_delay.
  std::chrono::milliseconds patience{15000};
};

// The least an attempt listens for its answer, however late it starts.
inline constexpr std::chrono::milliseconds k_min_poll_listen{10};

// Runs `attempt(listen)` until it succeeds, on the schedule of `poll`, while the ECU is silent or
// the link dropped or could not be opened (then `reconnect`, if given, opens it again). `listen`
// is how long the attempt may wait for an answer before the next one is due; the last attempt's
// is milliseconds::max() (no limit but the ECU's own timing). Returns the last error.
using EcuAttempt = std::function<Result<void>(std::chrono::milliseconds listen)>;
Result<void> wait_for_ecu(const EcuAttempt& attempt, const std::function<Result<void>()>& reconnect,
                          const EcuPoll& poll, EcuWait mode, WaitClock& clock = system_wait_clock());

// Whether a failed flash attempt is worth starting over in recovery mode: silence, a dropped or
// refused link, NRCs that are waited out (0x21, 0x22, 0x37), and NRCs saying the ECU lost our
// session (it reset or lost power: 0x7F, 0x7E, 0x24, 0x33). `last_nrc` is the client's.
bool uds_failure_is_transient(const Error& error, std::optional<std::uint8_t> last_nrc);

// Payload bytes per TransferData: the ECU's maxNumberOfBlockLength minus SID and counter,
// capped by the link and by `cap` (0 = none).
std::size_t transfer_payload_size(std::size_t max_block_length, std::size_t link_max_message, std::size_t cap);

}  // namespace ecuup
