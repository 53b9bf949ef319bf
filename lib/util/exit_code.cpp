#include "util/exit_code.hpp"

namespace ecuup {

ExitCode exit_code_for(Errc code) {
  switch (code) {
    case Errc::usage:
    case Errc::config:
      return ExitCode::usage;
    case Errc::network:
    case Errc::server:
      return ExitCode::network;
    case Errc::auth:
      return ExitCode::refused;
    case Errc::verify:
      return ExitCode::verify;
    case Errc::wrong_vehicle:
      return ExitCode::wrong_vehicle;
    case Errc::preconditions:
      return ExitCode::preconditions;
    case Errc::flash_restored:
      return ExitCode::restored;
    case Errc::flash_unrestored:
      return ExitCode::needs_attention;
    case Errc::locked:
      return ExitCode::locked;
    case Errc::interrupted:
      return ExitCode::interrupted;
    default:
      return ExitCode::failure;
  }
}

const char* exit_code_meaning(ExitCode code) {
  switch (code) {
    case ExitCode::ok: return "success, or nothing to do";
    case ExitCode::failure: return "failure; no ECU was left changed";
    case ExitCode::usage: return "usage, config or input error; nothing was changed";
    case ExitCode::network: return "server or network error; retry later";
    case ExitCode::verify: return "verification failed; nothing was touched";
    case ExitCode::restored: return "flash failed; the ECU was restored from its backup";
    case ExitCode::needs_attention: return "flash failed and restore failed; the ECU needs a person";
    case ExitCode::locked: return "the manifest is locked by another ecuup";
    case ExitCode::refused: return "refused: credentials or TLS trust; a person must fix them";
    case ExitCode::wrong_vehicle: return "wrong vehicle: its VIN is not the config's; nothing was touched";
    case ExitCode::pending: return "status: work is pending";
    case ExitCode::preconditions: return "preconditions not met; nothing was touched";
    case ExitCode::interrupted: return "interrupted";
  }
  return "unknown";
}

}  // namespace ecuup
