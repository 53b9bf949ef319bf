#include "api/vehicle_check.hpp"

#include <map>
#include <mutex>
#include <optional>

#include <fmt/format.h>

namespace ecuup::api {

namespace {

struct Verdict {
  bool confirmed = false;
  std::optional<Error> refused;
};

// One verdict per config file and VIN: `update` runs several steps, and parallel flash lanes open
// drivers at once; the first asks the vehicle, the others wait for its verdict.
std::mutex g_mutex;
std::map<std::pair<std::string, std::string>, Verdict> g_verdicts;

std::pair<std::string, std::string> key_of(const Config& config) { return {config.file.string(), config.vin}; }

}  // namespace

Result<void> confirm_vehicle(const Config& config, const DriverContext& context) {
  if (config.vin.empty()) return success();
  std::lock_guard<std::mutex> lock(g_mutex);
  Verdict& verdict = g_verdicts[key_of(config)];
  if (verdict.confirmed) return success();
  if (verdict.refused) return *verdict.refused;
  // The config guarantees a uds ECU; the first one in the config is asked, whichever ECU the
  // step opens first, so that the answer does not depend on --ecu or the flash order.
  for (const auto& ecu : config.ecus) {
    if (ecu.driver != "uds") continue;
    ECUUP_ASSIGN(auto driver, make_driver(ecu, context));
    auto vin = driver->read_vin();
    if (!vin) return std::move(vin).error().context(fmt::format("checking the vehicle's VIN (ECU {}, DID F190)", ecu.name));
    if (!*vin) continue;
    if (**vin != config.vin) {
      verdict.refused = make_error(Errc::wrong_vehicle,
                                   fmt::format("the vehicle answering is VIN {}, the config names VIN {}: wrong vehicle; "
                                               "nothing was touched (VIN read from ECU {}, DID F190)",
                                               **vin, config.vin, ecu.name));
      return *verdict.refused;
    }
    verdict.confirmed = true;
    return success();
  }
  return make_error(Errc::config, fmt::format("{}: 'vin' is set, but no ECU can report the vehicle's VIN",
                                              config.file.string()));
}

bool vehicle_refused(const Config& config) {
  if (config.vin.empty()) return false;
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_verdicts.find(key_of(config));
  return it != g_verdicts.end() && it->second.refused.has_value();
}

}  // namespace ecuup::api
