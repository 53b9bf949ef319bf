#include <fmt/format.h>

#include "api/session.hpp"
#include "util/time.hpp"

namespace ecuup::api {

Result<StepReport> inventory(const Config& config, const Common& common) {
  ECUUP_ASSIGN(Session s, Session::open(config, common));
  StepReport rep{"inventory", common.dry_run, {}, {}};
  for (const EcuConfig* ecu : s.selected()) {
    auto driver = s.driver(*ecu);
    if (!driver) {
      rep.ecus.push_back({ecu->name, "error", "", std::move(driver).error()});
      continue;
    }
    auto id = (*driver)->read_identity();
    if (!id) {
      Error e = std::move(id).error().context("read version of " + ecu->name);
      s.event(ecu->name, "inventory", e.message);
      rep.ecus.push_back({ecu->name, "unreadable", "", std::move(e)});
      continue;
    }
    EcuState& state = s.manifest().ecu(ecu->name);
    std::string before = state.installed ? state.installed->version : "";
    state.installed = InstalledState{id->version, now_iso8601(), id->extra};
    if (before != id->version) s.event(ecu->name, "inventory", fmt::format("installed version {}", id->version));
    rep.ecus.push_back({ecu->name, "read", id->version, std::nullopt});
  }
  ECUUP_TRY(s.save());
  return rep;
}

}  // namespace ecuup::api
