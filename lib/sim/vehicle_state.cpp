#include "sim/vehicle_state.hpp"

#include <algorithm>

namespace ecuup::sim {

namespace {

constexpr std::uint32_t k_low_battery_mv = 10900;
constexpr std::uint32_t k_moving_kmh = 30;
constexpr std::uint32_t k_min_programming_mv = 12000;  // below: the sim refuses to be programmed
constexpr std::uint8_t k_engine_off = 0x00;
constexpr std::uint8_t k_engine_running = 0x02;
constexpr std::uint32_t k_max_two_bytes = 0xFFFF;
constexpr std::uint32_t k_max_byte = 0xFF;

}  // namespace

VehicleState vehicle_state(const FaultSet& faults) {
  VehicleState state;
  auto any = [](const FaultSpec&) { return true; };
  if (const FaultSpec* f = faults.find(FaultKind::low_battery, any)) state.battery_mv = f->level.value_or(k_low_battery_mv);
  if (const FaultSpec* f = faults.find(FaultKind::moving, any)) state.speed_kmh = f->level.value_or(k_moving_kmh);
  state.engine_running = faults.find(FaultKind::engine_running, any) != nullptr;
  return state;
}

std::optional<Bytes> vehicle_did(const VehicleState& state, std::uint16_t did) {
  if (did == k_did_module_voltage) {
    const std::uint32_t mv = std::min(state.battery_mv, k_max_two_bytes);
    return Bytes{static_cast<std::uint8_t>(mv >> 8), static_cast<std::uint8_t>(mv & 0xFF)};
  }
  if (did == k_did_vehicle_speed) return Bytes{static_cast<std::uint8_t>(std::min(state.speed_kmh, k_max_byte))};
  if (did == k_did_engine_state) return Bytes{state.engine_running ? k_engine_running : k_engine_off};
  return std::nullopt;
}

Bytes programming_preconditions_status(const VehicleState& state) {
  Bytes codes;
  if (state.engine_running) codes.push_back(k_condition_engine_running);
  if (state.speed_kmh != 0) codes.push_back(k_condition_vehicle_moving);
  if (state.battery_mv < k_min_programming_mv) codes.push_back(k_condition_voltage_low);
  return codes;
}

}  // namespace ecuup::sim
