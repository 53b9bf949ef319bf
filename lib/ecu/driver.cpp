#include "ecu/driver.hpp"

#include <fmt/format.h>

#include "ecu/preconditions.hpp"

namespace ecuup {

Result<void> EcuDriver::read_out(const std::filesystem::path&, Progress&) {
  return make_error(Errc::unsupported, "this ECU driver cannot read the installed software out");
}

Result<std::vector<PreconditionOutcome>> EcuDriver::check_preconditions(const std::vector<Precondition>& checks,
                                                                        Progress& progress) {
  std::vector<PreconditionOutcome> out;
  for (const Precondition& check : checks) {
    // The config refuses these for drivers other than uds; a driver that gets one anyway says so.
    if (check.kind != PreconditionKind::command)
      return make_error(Errc::unsupported, fmt::format("precondition '{}': this ECU driver cannot check a {}", check.name,
                                                       precondition_kind_name(check.kind)));
    ECUUP_ASSIGN(PreconditionOutcome o, check_command_precondition(check));
    progress.note(o.met ? fmt::format("precondition '{}': {} (met)", o.name, o.value)
                        : fmt::format("precondition '{}': NOT met: {}", o.name, o.reason));
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace ecuup
