#include <fmt/format.h>

#include "api/session.hpp"
#include "api/trust_gate.hpp"
#include "util/time.hpp"

namespace ecuup::api {

namespace {

// An ECU left by an unfinished attempt of ours: what it answers now tells how that attempt ended.
// Anything but the attempt's target or its starting version is left for `flash` to resolve.
EcuOutcome resolve_unfinished(Session& s, const EcuConfig& ecu, EcuState& st, const Result<EcuIdentity>& id) {
  const FlashRecord& f = st.flash;
  if (id && id->version == f.to_version) {
    // The attempt had completed (killed after the last block, or while the ECU reset).
    st.flash.state = f.to_version == (st.task ? st.task->target_version : std::string()) ? FlashState::succeeded
                                                                                          : FlashState::none;
    st.flash.finished_at = now_iso8601();
    st.installed = InstalledState{id->version, now_iso8601(), id->extra};
    if (st.flash.state == FlashState::succeeded) record_security_version(st, *st.task);
    s.event(ecu.name, "inventory", fmt::format("the unfinished flash had completed: ECU runs {}", id->version));
    return {ecu.name, "read", id->version, std::nullopt};
  }
  if (id && !f.from_version.empty() && id->version == f.from_version) {
    // Stopped before anything was changed, or put back: the ECU runs its known-good software.
    st.flash.state = FlashState::none;
    st.installed = InstalledState{id->version, now_iso8601(), id->extra};
    s.event(ecu.name, "inventory", fmt::format("the unfinished flash left {} running: nothing to resolve", id->version));
    return {ecu.name, "read", id->version, std::nullopt};
  }
  std::string answer = id ? fmt::format("answers {}", id->version) : "has no readable software (" + id.error().message + ")";
  s.event(ecu.name, "inventory", fmt::format("flash {} -> {} unfinished: ECU {}; `ecuup flash` finishes or restores it",
                                             f.from_version.empty() ? "?" : f.from_version, f.to_version, answer));
  return {ecu.name, "unfinished",
          fmt::format("flash {} -> {} unfinished, ECU {}: the next flash finishes or restores it",
                      f.from_version.empty() ? "?" : f.from_version, f.to_version, answer),
          std::nullopt};
}

}  // namespace

Result<StepReport> inventory(const Config& config, const Common& common) {
  ECUUP_ASSIGN(Session s, Session::open(config, common));
  StepReport rep{"inventory", common.dry_run, {}, {}};
  for (auto& kept : s.settle()) rep.ecus.push_back(std::move(kept));
  if (auto note = s.busy_note()) rep.notes.push_back(std::move(*note));
  for (const EcuConfig* ecu : s.selected()) {
    if (!s.busy().empty()) {
      const EcuState* known = s.manifest().find(ecu->name);
      rep.ecus.push_back({ecu->name, "not-asked",
                          known && known->installed ? "last read " + known->installed->version : "never read", std::nullopt});
      continue;
    }
    auto driver = s.driver(*ecu);
    if (!driver) {
      rep.ecus.push_back({ecu->name, "error", "", std::move(driver).error()});
      continue;
    }
    const EcuState* known = s.manifest().find(ecu->name);
    const bool unfinished = known && flash_unfinished(*known);
    // An ECU we left unfinished may be booting or in its boot loader: give it the recovery window.
    if (unfinished) (*driver)->set_recovery(true);
    auto id = (*driver)->read_identity();
    if (unfinished) {
      rep.ecus.push_back(resolve_unfinished(s, *ecu, s.manifest().ecu(ecu->name), id));
      continue;
    }
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
  return s.save_and_finish(std::move(rep));
}

}  // namespace ecuup::api
