#pragma once
// `command`: the bench's own tools (vendor flashers) as an ECU driver. Exit status and stdout are
// the contract: `version` prints the installed version; `flash` exits 0 only when programming
// succeeded; `read` (optional) writes the installed software to {output}.
#include "ecu/driver.hpp"

namespace ecuup {

Result<std::unique_ptr<EcuDriver>> make_command_driver(const EcuConfig& ecu, const DriverContext& context);

}  // namespace ecuup
