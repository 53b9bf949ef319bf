#pragma once
// "A flash that starts on a weak battery bricks ECUs": the gate between the backup check and the
// first request that changes an ECU. It runs the ECU's `preconditions:` through its driver and
// either lets the flash go on, refuses it (Errc::preconditions, exit 11, nothing touched), or
// with --force-preconditions lets it go on with the failures recorded as overridden.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api.hpp"
#include "config/config.hpp"
#include "ecu/driver.hpp"
#include "util/result.hpp"

namespace ecuup::api {

struct PreconditionVerdict {
  std::vector<PreconditionOutcome> outcomes;
  std::optional<Error> refusal;  // set when a check is not met and the policy enforces
  bool overridden = false;       // a check is not met and --force-preconditions let the flash go on
  // One line for the manifest's event history: "met: battery 12.6 V, speed 0.0 km/h".
  std::string summary() const;
  // The JSON facts: "preconditions" (one object per check) and "preconditions_overridden".
  nlohmann::json facts() const;
};

// Runs `ecu.preconditions` through `driver`. An error only when the checks could not run at all
// (interrupted, a driver that cannot check a kind).
Result<PreconditionVerdict> check_preconditions(EcuDriver& driver, const EcuConfig& ecu, PreconditionPolicy policy,
                                                Progress& progress);

// For a dry run, which checks a flash would run (none is run: a bench command may be slow or
// have effects of its own, and a routine start is a request all the same).
// Adds them to a would-flash outcome: its detail and its facts' "preconditions".
void add_planned_preconditions(EcuOutcome& outcome, const EcuConfig& ecu);

}  // namespace ecuup::api
