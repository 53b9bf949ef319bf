#pragma once
// `image`: an ECU whose flash memory is a file (dry benches, demos, tests). The installed version
// is read from the ecuup image header at `version_offset` in that file.
#include "ecu/driver.hpp"

namespace ecuup {

Result<std::unique_ptr<EcuDriver>> make_image_driver(const EcuConfig& ecu, const DriverContext& context);

}  // namespace ecuup
