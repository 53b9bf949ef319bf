#pragma once
// What must hold before an ECU is touched (`preconditions:` in an ECU's config entry,
// ecuup-config(5)): a DID compared with limits, a RoutineControl whose status record lists the
// conditions not met, or a bench command. Parsed here; run by the ECU drivers (ecu/preconditions.hpp).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "util/result.hpp"

namespace ecuup {

enum class PreconditionKind { did, routine, command };
const char* precondition_kind_name(PreconditionKind kind);

enum class ByteOrder { big, little };

// How a DID's data record becomes a number: `bytes` bytes from `start`, as an unsigned or two's
// complement integer, then physical = raw * scale + offset.
struct DidDecoding {
  std::size_t start = 0;
  std::size_t bytes = 1;  // 1..8
  bool is_signed = false;
  ByteOrder byte_order = ByteOrder::big;  // UDS data records are big-endian unless an OEM says otherwise
  double scale = 1.0;
  double offset = 0.0;
  std::string unit;
  int decimals = -1;  // how many decimals a message shows; -1: as many as the scale needs
};

// Limits on the physical value. `one_of` holds physical values; `equals: X` is `one_of: [X]`.
// `values` names raw values of an enumeration (engine state 0: off), used in messages and in
// `equals`/`one_of`.
struct DidLimits {
  std::optional<double> min;
  std::optional<double> max;
  std::vector<double> one_of;
  std::map<long long, std::string> values;
};

struct Precondition {
  PreconditionKind kind = PreconditionKind::command;
  std::string name;  // shown in messages and JSON; defaults to the DID, routine or command
  std::string hint;  // what a person should do when it fails ("charge the battery ...")
  int line = 0;      // 1-based place of the item in the config, for messages
  // did and routine: the diagnostic session to be in (0: stay in the one the ECU is in).
  std::uint8_t session = 0;
  // did
  std::uint16_t did = 0;
  DidDecoding decoding;
  DidLimits limits;
  // routine: startRoutine (31 01 id option_record); met when the routineStatusRecord equals
  // `expect` (empty: no condition listed as not met, ISO 14229-1 checkProgrammingPreconditions).
  std::uint16_t routine = 0;
  std::vector<std::uint8_t> option_record;
  std::vector<std::uint8_t> expect;
  std::map<std::uint8_t, std::string> codes;  // status bytes -> names, for messages
  // command: /bin/sh; exit 0 = met
  std::string command;
  std::chrono::seconds timeout{30};
  std::filesystem::path work_dir;  // the config's directory, where the command runs
};

// Reads an ECU's `preconditions:` list; Errc::config with file:line:col. DID and routine checks
// need a diagnostic driver: `driver` other than uds allows only commands.
Result<std::vector<Precondition>> parse_preconditions(const std::filesystem::path& file, const YAML::Node& list,
                                                      const std::string& driver);

}  // namespace ecuup
