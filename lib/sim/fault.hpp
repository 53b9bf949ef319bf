#pragma once
// Fault injection for the simulated ECUs. A fault is written `KIND[:ARG...][:key=value...][:once|always]`
// (on the command line prefixed with the ECU name: `bms:nrc:0x36:0x72`). See `ecuup-sim run --help`.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup::sim {

enum class FaultKind {
  nrc,             // answer service SID with NRC (at TransferData block K when block= is given)
  silence,         // after block K the ECU answers nothing for ms= milliseconds
  drop,            // after block K: DoIP connection dropped (answer lost on CAN); unreachable for ms=
  power_loss,      // at block K: half the block written, version invalid, ECU reboots in boot mode
  slow_erase,      // erase takes ms= milliseconds (0x78 while busy)
  wrong_checksum,  // the check routine (31 01 FF01) fails
  security_delay,  // after a power-on or reset, requestSeed answers NRC 0x37 for ms= milliseconds
  slow_boot,       // after ECUReset or a power loss the ECU is off the network for ms= milliseconds
  late,            // the answer to SID comes ms= milliseconds late, with no 0x78 meanwhile
  // States of the vehicle rather than events (sim/vehicle_state.hpp): they hold for the whole run.
  low_battery,     // the supply reads mv= millivolts (default 10900) instead of 12600
  moving,          // the vehicle drives at kmh= km/h (default 30)
  engine_running,  // the engine runs
};

enum class FaultRepeat { once, always };

struct FaultSpec {
  FaultKind kind = FaultKind::nrc;
  std::uint8_t sid = 0;           // nrc
  std::uint8_t nrc = 0;           // nrc
  std::optional<std::uint8_t> sub;     // nrc, late: only requests with this sub-function (bit 7 ignored)
  std::optional<std::uint16_t> routine;  // nrc, late: only RoutineControl of this routine (rid=)
  std::optional<std::uint32_t> block;  // 1-based TransferData block of the current download
  std::optional<std::uint32_t> duration_ms;
  std::optional<std::uint32_t> level;  // low_battery: mv=; moving: kmh=
  FaultRepeat repeat = FaultRepeat::once;
  std::string text;  // as written, for messages

  // nrc, late: whether `request` is the service (and sub-function, routine) this fault names.
  bool matches(ByteView request) const;
};

const char* fault_kind_name(FaultKind kind);

// Parses one fault without the ECU prefix ("nrc:0x36:0x72:block=3:always").
Result<FaultSpec> parse_fault(std::string_view text);

struct EcuFault {
  std::string ecu;
  FaultSpec fault;
};
// Parses a command-line fault "ECU:KIND..." .
Result<EcuFault> parse_ecu_fault(std::string_view text);

// Runtime state of an ECU's faults: which ones already fired.
class FaultSet {
 public:
  FaultSet() = default;
  explicit FaultSet(std::vector<FaultSpec> faults);
  void add(FaultSpec fault);

  // The first armed fault of `kind` matching `pred`, or nullptr. `fire` marks a `once` fault spent.
  template <class Pred>
  const FaultSpec* find(FaultKind kind, Pred pred) const {
    for (std::size_t i = 0; i < m_faults.size(); ++i) {
      const auto& f = m_faults[i];
      if (f.kind == kind && !m_spent[i] && pred(f)) return &f;
    }
    return nullptr;
  }
  void fire(const FaultSpec* fault);
  const std::vector<FaultSpec>& all() const { return m_faults; }

 private:
  std::vector<FaultSpec> m_faults;
  std::vector<bool> m_spent;
};

// Parses "0x36", "54", "ff" is not accepted (hex needs 0x). Errc::usage on failure.
Result<std::uint32_t> parse_number(std::string_view text);

}  // namespace ecuup::sim
