#pragma once
// "The right vehicle, or nothing": when the config names a VIN, the vehicle answering must report
// it before any step talks to its ECUs. Checked once per process and vehicle, at the first driver
// a step opens, by asking the config's first uds ECU for DID F190.
#include "config/config.hpp"
#include "ecu/driver.hpp"
#include "util/result.hpp"

namespace ecuup::api {

// success() when the config names no VIN or the vehicle reported it (now or earlier in this
// process). Errc::wrong_vehicle when it reported another VIN (remembered: every later call fails
// the same way without asking again); the reading's own error when it could not be read.
Result<void> confirm_vehicle(const Config& config, const DriverContext& context);

// Whether confirm_vehicle() met another vehicle for this config in this process: nothing learnt
// from it may reach the manifest.
bool vehicle_refused(const Config& config);

}  // namespace ecuup::api
