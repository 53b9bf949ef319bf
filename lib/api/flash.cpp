#include <algorithm>

#include <fmt/format.h>

#include "api/session.hpp"
#include "util/hash.hpp"
#include "util/time.hpp"

namespace ecuup::api {

namespace fs = std::filesystem;

namespace {

std::vector<const EcuConfig*> in_flash_order(std::vector<const EcuConfig*> ecus) {
  std::stable_sort(ecus.begin(), ecus.end(), [](const EcuConfig* a, const EcuConfig* b) { return a->order < b->order; });
  return ecus;
}

// Programs `image` and reads the version back; success only when it is `expected`.
Result<void> program_and_check(EcuDriver& driver, const fs::path& image, const std::string& expected, Progress& progress) {
  ECUUP_TRY(driver.flash(image, progress));
  auto id = driver.read_identity();
  if (!id) return std::move(id).error().context("read version after programming");
  if (id->version != expected)
    return make_error(Errc::ecu, fmt::format("the ECU reports version {} after programming, expected {}", id->version, expected));
  return success();
}

// Restores `state.backup` onto the ECU after `cause`; returns the error that describes the outcome.
Error restore_after_failure(Session& s, const EcuConfig& ecu, EcuDriver& driver, EcuState& state, const Error& cause) {
  if (!state.backup) {
    state.flash.state = FlashState::failed_unrestored;
    return make_error(Errc::flash_unrestored,
                      fmt::format("flash {}: {}; no backup to restore (--no-backup): the ECU needs attention", ecu.name, cause.message));
  }
  s.event(ecu.name, "flash", fmt::format("restoring backup {}", state.backup->version));
  (void)s.save();
  PhaseProgress restoring(s.progress(), "restore");
  auto restored = program_and_check(driver, s.backups().absolute(*state.backup), state.backup->version, restoring);
  if (!restored) {
    state.flash.state = FlashState::failed_unrestored;
    state.flash.last_error = fmt::format("{}; restore failed: {}", cause.message, restored.error().message);
    return make_error(Errc::flash_unrestored,
                      fmt::format("flash {}: {}; RESTORE FAILED: {}. ECU {} needs attention.", ecu.name, cause.message,
                                  restored.error().message, ecu.name));
  }
  state.flash.state = FlashState::failed_restored;
  state.installed = InstalledState{state.backup->version, now_iso8601(), {}};
  return make_error(Errc::flash_restored, fmt::format("flash {}: {}; restored backup {} and verified it", ecu.name,
                                                      cause.message, state.backup->version));
}

}  // namespace

Result<StepReport> flash(const Config& config, const Common& common, const FlashOptions& options) {
  ECUUP_ASSIGN(Session s, Session::open(config, common));
  StepReport rep{"flash", common.dry_run, {}, {}};
  bool earlier_failed = false;
  for (const EcuConfig* ecu : in_flash_order(s.selected())) {
    EcuState& st = s.manifest().ecu(ecu->name);
    auto outcome = [&](std::string result, std::string detail, std::optional<Error> error = std::nullopt) {
      rep.ecus.push_back({ecu->name, std::move(result), std::move(detail), std::move(error)});
    };
    if (!st.task) {
      outcome("no-task", "nothing to flash");
      continue;
    }
    const TaskState& task = *st.task;
    if (task.download_only) {
      outcome("download-only", "the server asked for download only");
      continue;
    }
    if (!task.maintenance_window_open) {
      outcome("deferred", "maintenance window closed: not flashing now");
      continue;
    }
    if (st.flash.state == FlashState::succeeded && st.flash.to_version == task.target_version) {
      outcome("flashed", fmt::format("{} already flashed", task.target_version));
      continue;
    }
    if (earlier_failed) {
      outcome("skipped", "an ECU earlier in the flash order failed");
      continue;
    }
    if (!st.download || !st.download->verified) {
      outcome("not-downloaded", "", make_error(Errc::not_found, fmt::format("{}: {} is not downloaded and verified yet: run `ecuup fetch`",
                                                                            ecu->name, task.target_version)));
      continue;
    }
    fs::path image = s.state_path(st.download->image);
    // The file may have changed since fetch verified it: check again right before touching the ECU.
    auto image_sha = sha256_file(image);
    if (!image_sha || *image_sha != st.download->image_sha256) {
      st.download->verified = false;
      outcome("verify-failed", "", make_error(Errc::verify, fmt::format("{}: image {} no longer matches its verified sha256; "
                                                                        "run `ecuup fetch` again", ecu->name, image.string())));
      earlier_failed = true;
      continue;
    }
    if (options.backup == BackupPolicy::required) {
      if (!st.backup) {
        outcome("no-backup", "", make_error(Errc::no_backup, fmt::format(
            "{}: no backup of the installed software exists: run `ecuup backup --read --ecu {}` or "
            "`ecuup backup --import {}=FILE --version V`, or pass --no-backup", ecu->name, ecu->name, ecu->name)));
        earlier_failed = true;
        continue;
      }
      if (auto ok = s.backups().verify(*st.backup); !ok) {
        outcome("backup-corrupt", "", std::move(ok).error().context(ecu->name));
        earlier_failed = true;
        continue;
      }
    }
    auto driver = s.driver(*ecu);
    if (!driver) {
      outcome("error", "", std::move(driver).error());
      earlier_failed = true;
      continue;
    }
    // Never assume how an earlier run ended: ask the ECU what it runs now.
    auto current = (*driver)->read_identity();
    if (current && current->version == task.target_version) {
      bool resolved = st.flash.state == FlashState::in_progress;
      st.flash.state = FlashState::succeeded;
      st.flash.to_version = task.target_version;
      st.flash.image_sha256 = st.download->image_sha256;
      st.flash.finished_at = now_iso8601();
      st.installed = InstalledState{current->version, now_iso8601(), current->extra};
      s.event(ecu->name, "flash", resolved ? "interrupted flash had completed: ECU runs the target version"
                                           : "ECU already runs the target version");
      ECUUP_TRY(s.save());
      outcome("flashed", fmt::format("{} already installed", task.target_version));
      continue;
    }
    if (st.flash.state == FlashState::in_progress)
      s.event(ecu->name, "flash", fmt::format("previous attempt was interrupted (ECU reports {}); flashing again",
                                              current ? current->version : "no valid software"));
    std::string from = current ? current->version : (st.installed ? st.installed->version : "");
    if (common.dry_run) {
      outcome("would-flash", fmt::format("{} -> {}, {} bytes, backup {}", from.empty() ? "?" : from, task.target_version,
                                         fs::file_size(image),
                                         st.backup ? st.backup->version + " (verified)" : std::string("none (--no-backup)")));
      continue;
    }

    st.flash.state = FlashState::in_progress;
    st.flash.attempts += 1;
    st.flash.from_version = from;
    st.flash.to_version = task.target_version;
    st.flash.image_sha256 = st.download->image_sha256;
    st.flash.started_at = now_iso8601();
    st.flash.finished_at.clear();
    st.flash.last_error.clear();
    s.event(ecu->name, "flash", fmt::format("programming {} (attempt {})", task.target_version, st.flash.attempts));
    ECUUP_TRY(s.save());  // from here a kill leaves `in_progress`, which the next run resolves

    auto done = program_and_check(**driver, image, task.target_version, s.progress());
    st.flash.finished_at = now_iso8601();
    if (done) {
      st.flash.state = FlashState::succeeded;
      st.installed = InstalledState{task.target_version, now_iso8601(), {}};
      s.event(ecu->name, "flash", fmt::format("flashed {}", task.target_version));
      s.queue_feedback(ecu->name, task.action_id, FeedbackExecution::proceeding, FeedbackFinished::none,
                       {fmt::format("{}: flashed {}", ecu->name, task.target_version)});
      ECUUP_TRY(s.save());
      outcome("flashed", fmt::format("{} -> {}", from, task.target_version));
      continue;
    }
    Error cause = std::move(done).error();
    earlier_failed = true;
    st.flash.last_error = cause.message;
    if (cause.code == Errc::interrupted) {
      // Leave `in_progress`: the next run reads the ECU and finishes, retries or restores.
      s.event(ecu->name, "flash", "interrupted while programming");
      ECUUP_TRY(s.save());
      outcome("interrupted", "", make_error(Errc::interrupted, fmt::format(
          "flash {} interrupted; run `ecuup flash` again to resolve it", ecu->name)));
      break;
    }
    s.event(ecu->name, "flash", "failed: " + cause.message);
    ECUUP_TRY(s.save());
    Error result = (options.backup == BackupPolicy::required || st.backup)
                       ? restore_after_failure(s, *ecu, **driver, st, cause)
                       : make_error(Errc::flash_unrestored, fmt::format("flash {}: {}; no backup to restore (--no-backup): "
                                                                        "the ECU needs attention", ecu->name, cause.message));
    if (result.code == Errc::flash_unrestored) st.flash.state = FlashState::failed_unrestored;
    st.flash.last_error = result.message;
    s.event(ecu->name, "flash", result.message);
    s.queue_feedback(ecu->name, task.action_id, FeedbackExecution::closed, FeedbackFinished::failure, {result.message});
    ECUUP_TRY(s.save());
    outcome(result.code == Errc::flash_restored ? "restored" : "needs-attention", "", std::move(result));
  }
  return rep;
}

}  // namespace ecuup::api
