#include "ecu/driver.hpp"

namespace ecuup {

Result<void> EcuDriver::read_out(const std::filesystem::path&, Progress&) {
  return make_error(Errc::unsupported, "this ECU driver cannot read the installed software out");
}

}  // namespace ecuup
