#pragma once
// The vehicle around a simulated ECU as its faults make it (low_battery, moving, engine_running),
// readable as OBD-style DIDs and through checkProgrammingPreconditions, so that a tester's
// preconditions can be tried against a weak battery or a moving vehicle (ecuup-sim(1)).
#include <cstdint>
#include <optional>

#include "sim/fault.hpp"
#include "util/bytes.hpp"

namespace ecuup::sim {

// ISO 14229-1 Annex C maps the OBD PIDs (ISO 15031-5) to DIDs 0xF400 + PID.
constexpr std::uint16_t k_did_module_voltage = 0xF442;  // PID 0x42: 2 bytes, 0.001 V per bit
constexpr std::uint16_t k_did_vehicle_speed = 0xF40D;   // PID 0x0D: 1 byte, km/h
constexpr std::uint16_t k_did_engine_state = 0x0100;    // manufacturer specific: 0 off, 2 running

// checkProgrammingPreconditions' status record lists these codes, one byte per condition not met.
constexpr std::uint8_t k_condition_engine_running = 0x01;
constexpr std::uint8_t k_condition_vehicle_moving = 0x02;
constexpr std::uint8_t k_condition_voltage_low = 0x03;

struct VehicleState {
  std::uint32_t battery_mv = 12600;
  std::uint32_t speed_kmh = 0;
  bool engine_running = false;
};

VehicleState vehicle_state(const FaultSet& faults);

// The data record of a vehicle DID, or nullopt for other DIDs.
std::optional<Bytes> vehicle_did(const VehicleState& state, std::uint16_t did);

// The routineStatusRecord of checkProgrammingPreconditions: empty when every condition is met.
Bytes programming_preconditions_status(const VehicleState& state);

}  // namespace ecuup::sim
