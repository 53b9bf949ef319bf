#pragma once
// The one exit-code enum. Every man page's EXIT STATUS lists it; test/cli checks it.
// Reading the code alone answers "was the ECU touched?": 0-4, 7-9 and 11 mean no ECU was left changed
// against the user's intent, 5 means touched and restored, 6 means touched and NOT restored.
#include "util/result.hpp"

namespace ecuup {

enum class ExitCode : int {
  ok = 0,              // done, or nothing to do
  failure = 1,         // failed; no ECU left in a changed state
  usage = 2,           // command line, config or input file error; nothing changed
  network = 3,         // server or network error: retry later
  verify = 4,          // verification failed before anything was touched
  restored = 5,        // flash failed, ECU restored from its backup and verified
  needs_attention = 6, // flash failed and restore failed: the ECU needs a person
  locked = 7,          // the manifest is locked by another ecuup
  refused = 8,         // refused: the server rejected our credentials, or TLS trust failed; retrying will not help
  wrong_vehicle = 9,   // the vehicle answering has another VIN than the config names; nothing was touched
  pending = 10,        // status only: work is pending (tasks not yet flashed/backed up)
  preconditions = 11,  // a precondition (battery, vehicle speed, bench) is not met; nothing was touched
  interrupted = 130,   // SIGINT/SIGTERM
};

ExitCode exit_code_for(Errc code);
const char* exit_code_meaning(ExitCode code);

}  // namespace ecuup
