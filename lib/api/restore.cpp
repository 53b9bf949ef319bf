#include <fmt/format.h>

#include "api/session.hpp"
#include "util/time.hpp"

namespace ecuup::api {

Result<StepReport> restore(const Config& config, const Common& common) {
  if (common.ecus.empty()) return make_error(Errc::usage, "restore needs --ecu NAME (which ECU to put back on its backup)");
  ECUUP_ASSIGN(Session s, Session::open(config, common));
  StepReport rep{"restore", common.dry_run, {}, {}};
  for (const EcuConfig* ecu : s.selected()) {
    EcuState& st = s.manifest().ecu(ecu->name);
    if (!st.backup) {
      rep.ecus.push_back({ecu->name, "no-backup", "", make_error(Errc::no_backup, fmt::format("{} has no backup to restore", ecu->name))});
      continue;
    }
    if (auto ok = s.backups().verify(*st.backup); !ok) {
      rep.ecus.push_back({ecu->name, "backup-corrupt", "", std::move(ok).error()});
      continue;
    }
    if (common.dry_run) {
      rep.ecus.push_back({ecu->name, "would-restore", st.backup->version, std::nullopt});
      continue;
    }
    ECUUP_ASSIGN(auto driver, s.driver(*ecu));
    // What it ran before, unless an unfinished attempt already recorded that.
    if (!flash_unfinished(st)) st.flash.from_version = st.installed ? st.installed->version : std::string();
    st.flash.state = FlashState::in_progress;
    st.flash.attempts += 1;
    st.flash.to_version = st.backup->version;
    st.flash.image_sha256 = st.backup->sha256;
    st.flash.started_at = now_iso8601();
    s.event(ecu->name, "restore", fmt::format("restoring backup {}", st.backup->version));
    ECUUP_TRY(s.save());
    PhaseProgress restoring(s.progress(), "restore");
    // The way back, as a failed flash takes it: through the recovery window, shielded from a first
    // signal, tried again while attempts changed the ECU, verified by the version it then reports.
    Result<EcuIdentity> id = program_backup(s, *driver, *st.backup, restoring);
    st.flash.finished_at = now_iso8601();
    if (id) {
      // The restored software is what the ECU runs now; a pending task may be flashed again later.
      st.flash.state = FlashState::none;
      st.flash.last_error.clear();
      st.installed = InstalledState{id->version, now_iso8601(), id->extra};
      s.event(ecu->name, "restore", fmt::format("restored {} and verified it", id->version));
      ECUUP_TRY(s.save());
      rep.ecus.push_back({ecu->name, "restored", id->version, std::nullopt});
      continue;
    }
    const std::string why = id.error().message;
    st.flash.state = FlashState::failed_unrestored;
    st.flash.last_error = "restore failed: " + why;
    s.event(ecu->name, "restore", st.flash.last_error);
    ECUUP_TRY(s.save());
    rep.ecus.push_back({ecu->name, "needs-attention", "", make_error(Errc::flash_unrestored, fmt::format(
        "restore {}: {}. ECU {} needs attention.", ecu->name, why, ecu->name))});
  }
  return s.finish(std::move(rep));
}

}  // namespace ecuup::api
