#include "cli.hpp"

namespace ecuup::cli {

// The command table: main enforces each row's preconditions before running it.
const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"inventory", "read the installed software version of each ECU into the manifest", true, true, false, true, setup_inventory},
      {"report", "upload installed versions to the update server and record the target ECUs' tasks", true, true, true, true, setup_report},
      {"fetch", "download, resume and verify the new software of each target ECU", true, true, true, true, setup_fetch},
      {"flash", "program each target ECU; on failure restore its backup and verify it", true, true, false, true, setup_flash},
      {"backup", "keep flashed software as the new backup; --import, --read, --list", true, true, false, true, setup_backup},
      {"status", "show where every ECU stands and deliver queued results to the server", true, true, true, false, setup_status},
      {"update", "run inventory, report, fetch, flash, backup and status in order (for cron)", true, true, true, true, setup_update},
      {"restore", "flash an ECU's backup on demand and verify it", true, true, false, true, setup_restore},
      {"discover", "find the DoIP gateways (VIN, address, EID) that answer on UDP", false, false, false, false, setup_discover},
  };
  return table;
}

}  // namespace ecuup::cli
