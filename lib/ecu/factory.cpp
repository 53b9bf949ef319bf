#include <fmt/format.h>

#include "ecu/command_driver.hpp"
#include "ecu/driver.hpp"
#include "ecu/image_driver.hpp"
#include "ecu/uds_driver.hpp"

namespace ecuup {

Result<std::unique_ptr<EcuDriver>> make_driver(const EcuConfig& ecu, const DriverContext& context) {
  if (ecu.driver == "image") return make_image_driver(ecu, context);
  if (ecu.driver == "command") return make_command_driver(ecu, context);
  if (ecu.driver == "uds") return make_uds_driver(ecu, context);
  return config_error_at(ecu.config_file, ecu.settings, fmt::format("driver '{}' is not available in this build", ecu.driver));
}

}  // namespace ecuup
