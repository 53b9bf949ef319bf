// libFuzzer target: ecuup.yaml through parse_config, then each ECU's driver section through the
// parser of its driver (parse_uds_settings; make_driver for image and command, which only read
// their settings). Nothing may throw: every problem is Errc::config naming the file.
#include <set>
#include <string>

#include "config/config.hpp"
#include "ecu/driver.hpp"
#include "ecu/uds_driver.hpp"
#include "fuzz_support.hpp"

using namespace ecuup;
using ecuup::fuzz::require;

namespace {

const std::filesystem::path k_file = "/fuzz/ecuup.yaml";

void require_config_error(const Error& error) {
  require(error.code == Errc::config);
  require(error.message.rfind(k_file.string(), 0) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto config = parse_config(std::string(fuzz::as_text(data, size)), k_file);
  fuzz::say("config: %s", config ? "ok" : config.error().message.c_str());
  if (!config) {
    require_config_error(config.error());
    return 0;
  }
  require(!config->ecus.empty());
  require(config->server.kind == "dir" || config->server.kind == "ddi");
  std::set<std::string> names;
  std::set<std::string> parts;
  for (const auto& ecu : config->ecus) {
    require(!ecu.name.empty() && !ecu.part.empty());
    require(names.insert(ecu.name).second && parts.insert(ecu.part).second);
    require(config->find_ecu(ecu.name) == &ecu);
  }

  const DriverContext context{.base_dir = "/fuzz", .trace_file = {}, .verbosity = 0};
  for (const auto& ecu : config->ecus) {
    if (ecu.driver == "uds") {
      // Not make_driver: a key_library setting would be dlopen()ed.
      auto settings = parse_uds_settings(ecu, context);
      fuzz::say("uds %s: %s", ecu.name.c_str(), settings ? "ok" : settings.error().message.c_str());
      if (!settings) {
        require_config_error(settings.error());
        continue;
      }
      require(settings->ecu_name == ecu.name);
      require(settings->sequence.security_level % 2 == 1);
      require(!settings->sequence.flash_steps.empty() && !settings->sequence.read_steps.empty());
      for (const auto& region : settings->sequence.read_regions) {
        require(region.size > 0 && region.address + region.size <= std::uint64_t{1} << 32);
      }
    } else {
      auto driver = make_driver(ecu, context);
      fuzz::say("%s %s: %s", ecu.driver.c_str(), ecu.name.c_str(), driver ? "ok" : driver.error().message.c_str());
      if (!driver) require_config_error(driver.error());
    }
  }
  return 0;
}
