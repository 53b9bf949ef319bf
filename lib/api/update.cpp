#include <fmt/format.h>

#include "api/live_log.hpp"
#include "api/session.hpp"
#include "util/cancel.hpp"

namespace ecuup::api {

namespace {

// For cron: an ECU about to be flashed without a backup gets one read out, where its driver can.
Result<StepReport> read_missing_backups(const Config& config, const Common& common) {
  std::vector<std::string> need;
  {
    ECUUP_ASSIGN(Session s, Session::open(config, common));
    for (const EcuConfig* ecu : s.selected()) {
      const EcuState* st = s.manifest().find(ecu->name);
      if (!st || !st->task || st->backup || st->task->download_only) continue;
      auto driver = s.driver(*ecu);
      if (driver && (*driver)->can_read_out()) need.push_back(ecu->name);
    }
  }
  if (need.empty()) return StepReport{"backup", common.dry_run, {}, {}};
  Common c = common;
  c.ecus = need;
  BackupOptions o;
  o.mode = BackupOptions::Mode::read;
  return backup(config, c, o);
}

// The selected ECUs whose flash is unfinished.
Result<std::vector<std::string>> unfinished_ecus(const Config& config, const Common& common) {
  ECUUP_ASSIGN(Session s, Session::open(config, common));
  std::vector<std::string> out;
  for (const EcuConfig* ecu : s.selected())
    if (const EcuState* st = s.manifest().find(ecu->name); st && flash_unfinished(*st)) out.push_back(ecu->name);
  return out;
}

}  // namespace

Result<UpdateResult> update(const Config& config, const Common& outer, const FlashOptions& options) {
  // One lock for all the steps: another ecuup must not change the manifest between them.
  std::optional<FileLock> lock;
  Common common = outer;
  if (!outer.lock_held) {
    // A dry run never waits for the writer: its steps then plan without the lock.
    ECUUP_ASSIGN(lock, lock_unless_busy(config, outer, outer.dry_run, common.writer_busy));
    if (lock && outer.live && !outer.dry_run) outer.live->start(config.state_dir);
  }
  common.lock_held = true;
  // A dry run plans every step on one in-memory copy of the manifest, so that fetch and flash
  // show what they would do with the tasks report would record.
  Manifest plan;
  if (common.dry_run && !common.plan) {
    ECUUP_ASSIGN(plan, Manifest::load(config.manifest_path()));
    common.plan = &plan;
  }
  UpdateResult out;
  auto run = [&](Result<StepReport> r) -> Result<bool> {
    if (!r) return std::move(r).error();
    out.steps.push_back(std::move(*r));
    ExitCode c = out.steps.back().exit_code();
    // A signal ends the run after the step it arrived in (that step finished or put back the ECU).
    if (interrupt_requested()) c = worse(c, ExitCode::interrupted);
    out.exit_code = worse(out.exit_code, c);
    return c == ExitCode::ok;
  };
  bool go = true;
  if (go) { ECUUP_ASSIGN(go, run(inventory(config, common))); }
  if (go) { ECUUP_ASSIGN(go, run(report(config, common))); }
  if (go) { ECUUP_ASSIGN(go, run(fetch(config, common))); }
  if (go && options.backup == BackupPolicy::required) {
    ECUUP_ASSIGN(StepReport read, read_missing_backups(config, common));
    if (!read.ecus.empty()) { ECUUP_ASSIGN(go, run(std::move(read))); }
  }
  bool flashed = false;
  if (go) {
    flashed = true;
    ECUUP_ASSIGN(go, run(flash(config, common, options)));
  }
  // Whatever stopped the run early (the server unreachable, a download failing), an ECU our own
  // unfinished attempt left without known-good software is resolved now, from what is on disk.
  if (!flashed && !common.dry_run && !interrupt_requested()) {
    if (auto unfinished = unfinished_ecus(config, common); unfinished && !unfinished->empty()) {
      Common c = common;
      c.ecus = *unfinished;
      ECUUP_TRY(run(flash(config, c, options)));
    }
  }
  if (go) { ECUUP_ASSIGN(go, run(backup(config, common, BackupOptions{}))); }
  ECUUP_ASSIGN(out.status, status(config, common, StatusOptions{}));
  if (out.exit_code == ExitCode::ok && out.status.exit_code != ExitCode::pending)
    out.exit_code = worse(out.exit_code, out.status.exit_code);
  return out;
}

}  // namespace ecuup::api
