#pragma once
// Runs the read-only checks of an ECU's `preconditions:` (config/precondition.hpp): a DID decoded
// and held against limits, a precondition routine whose status record lists what is not met, a
// bench command. Nothing here sends a request that changes the ECU's memory.
#include <cstdint>
#include <string>
#include <vector>

#include "config/precondition.hpp"
#include "ecu/driver.hpp"
#include "util/bytes.hpp"
#include "util/progress.hpp"
#include "util/result.hpp"

namespace ecuup {

class UdsClient;

// The physical value (raw * scale + offset) of a DID's data record; Errc::protocol when the
// record is shorter than start + bytes.
Result<double> decode_did_value(const DidDecoding& decoding, ByteView data);

// "10.9 V", or for an enumeration "running (1)".
std::string format_did_value(const Precondition& check, double value);

// Empty when `value` is within the limits, else why not: "10.9 V is below the minimum 12.0 V".
std::string judge_did_value(const Precondition& check, double value);

// Empty when the routineStatusRecord is the expected one, else what the ECU listed:
// "the ECU lists conditions not met: 0x01 (engine running)".
std::string judge_routine_status(const Precondition& check, ByteView status);

// One bench command: met on exit status 0; otherwise the reason names the status and the last
// line of its stderr. Errc::interrupted passes through; everything else is a verdict.
Result<PreconditionOutcome> check_command_precondition(const Precondition& check);

// Every check in order over `client`: DIDs and routines in the session each names (entered only
// when it differs from the one before; `default_session` is restored afterwards if any was
// entered), commands through /bin/sh. A check that cannot be read (silence, an NRC) is not met:
// an unknown battery voltage is no permission to flash. Errc::interrupted passes through.
Result<std::vector<PreconditionOutcome>> run_uds_preconditions(UdsClient& client, const std::vector<Precondition>& checks,
                                                               std::uint8_t default_session, Progress& progress);

}  // namespace ecuup
