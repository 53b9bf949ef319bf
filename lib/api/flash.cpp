#include <algorithm>
#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "api/flash_plan.hpp"
#include "api/session.hpp"
#include "util/hash.hpp"
#include "util/time.hpp"

namespace ecuup::api {

namespace fs = std::filesystem;

namespace {

// How one ECU's turn ended, for the ECUs after it: a failure stops later flash orders.
enum class Verdict { done, failed, interrupted };

struct EcuResult {
  EcuOutcome outcome;
  Verdict verdict = Verdict::done;
};

// Programs `image` and reads the version back; success only when it is `expected`.
Result<void> program_and_check(EcuDriver& driver, const fs::path& image, const std::string& expected, Progress& progress) {
  driver.set_image_version(expected);
  ECUUP_TRY(driver.flash(image, progress));
  auto id = driver.read_identity();
  if (!id) return std::move(id).error().context("read version after programming");
  if (id->version != expected)
    return make_error(Errc::ecu, fmt::format("the ECU reports version {} after programming, expected {}", id->version, expected));
  return success();
}

// Restores `state.backup` onto the ECU after `cause`; returns the error that describes the outcome.
// Called with `lock` held; it is released while the ECU is programmed.
Error restore_after_failure(Session& s, const EcuConfig& ecu, EcuDriver& driver, EcuState& state, const Error& cause,
                            Progress& progress, std::unique_lock<std::mutex>& lock) {
  if (!state.backup) {
    state.flash.state = FlashState::failed_unrestored;
    return make_error(Errc::flash_unrestored,
                      fmt::format("flash {}: {}; no backup to restore (--no-backup): the ECU needs attention", ecu.name, cause.message));
  }
  const BackupRecord backup = *state.backup;
  s.event(ecu.name, "flash", fmt::format("restoring backup {}", backup.version));
  (void)s.save();
  PhaseProgress restoring(progress, "restore");
  lock.unlock();
  auto restored = program_and_check(driver, s.backups().absolute(backup), backup.version, restoring);
  lock.lock();
  if (!restored) {
    state.flash.state = FlashState::failed_unrestored;
    state.flash.last_error = fmt::format("{}; restore failed: {}", cause.message, restored.error().message);
    return make_error(Errc::flash_unrestored,
                      fmt::format("flash {}: {}; RESTORE FAILED: {}. ECU {} needs attention.", ecu.name, cause.message,
                                  restored.error().message, ecu.name));
  }
  state.flash.state = FlashState::failed_restored;
  state.installed = InstalledState{backup.version, now_iso8601(), {}};
  return make_error(Errc::flash_restored, fmt::format("flash {}: {}; restored backup {} and verified it", ecu.name,
                                                      cause.message, backup.version));
}

// One ECU's whole turn. Runs on its own thread when its flash order has several lanes: the session is
// touched only under s.guard(); hashing, reading and programming the ECU run without it.
Result<EcuResult> flash_one(Session& s, const Common& common, const FlashOptions& options, const EcuConfig& ecu,
                            bool earlier_failed, Progress& progress) {
  std::unique_ptr<EcuDriver> driver;  // declared before the lock: closing the link does not hold it
  auto lock = s.guard();
  EcuState& st = s.manifest().ecu(ecu.name);
  auto outcome = [&](std::string result, std::string detail, std::optional<Error> error = std::nullopt,
                     Verdict verdict = Verdict::done) {
    return EcuResult{{ecu.name, std::move(result), std::move(detail), std::move(error)}, verdict};
  };
  if (!st.task) return outcome("no-task", "nothing to flash");
  const TaskState task = *st.task;
  if (task.download_only) return outcome("download-only", "the server asked for download only");
  if (!task.maintenance_window_open) return outcome("deferred", "maintenance window closed: not flashing now");
  if (st.flash.state == FlashState::succeeded && st.flash.to_version == task.target_version)
    return outcome("flashed", fmt::format("{} already flashed", task.target_version));
  if (earlier_failed) return outcome("skipped", "an ECU earlier in the flash order failed");
  // update --dry-run plans on: what fetch and backup --read would have done counts as done.
  if (common.plan && (!st.download || !st.download->verified || !st.backup)) {
    std::uint64_t bytes = 0;
    for (const auto& a : task.artifacts) bytes += a.size;
    std::string backup = st.backup ? st.backup->version : std::string("none");
    if (!st.backup && options.backup == BackupPolicy::required) {
      auto made = s.driver(ecu);
      if (!made || !(*made)->can_read_out())
        return outcome("no-backup", "", make_error(Errc::no_backup, fmt::format(
            "{}: no backup of the installed software exists and driver '{}' cannot read one out: run "
            "`ecuup backup --import {}=FILE --version V`, or pass --no-backup", ecu.name, ecu.driver, ecu.name)), Verdict::failed);
      backup = "read out first";
    }
    return outcome("would-flash", fmt::format("{} -> {}, {} bytes once fetched, backup {}, order {}",
                                              st.installed ? st.installed->version : "?", task.target_version, bytes,
                                              backup, ecu.order));
  }
  if (!st.download || !st.download->verified)
    return outcome("not-downloaded", "", make_error(Errc::not_found, fmt::format("{}: {} is not downloaded and verified yet: run `ecuup fetch`",
                                                                                 ecu.name, task.target_version)));
  const fs::path image = s.state_path(st.download->image);
  const std::string image_sha256 = st.download->image_sha256;
  // The file may have changed since fetch verified it: check again right before touching the ECU.
  lock.unlock();
  auto image_sha = sha256_file(image);
  lock.lock();
  if (!image_sha || *image_sha != image_sha256) {
    st.download->verified = false;
    return outcome("verify-failed", "", make_error(Errc::verify, fmt::format("{}: image {} no longer matches its verified sha256; "
                                                                             "run `ecuup fetch` again", ecu.name, image.string())),
                   Verdict::failed);
  }
  if (options.backup == BackupPolicy::required) {
    if (!st.backup)
      return outcome("no-backup", "", make_error(Errc::no_backup, fmt::format(
          "{}: no backup of the installed software exists: run `ecuup backup --read --ecu {}` or "
          "`ecuup backup --import {}=FILE --version V`, or pass --no-backup", ecu.name, ecu.name, ecu.name)), Verdict::failed);
    const BackupRecord backup = *st.backup;
    lock.unlock();
    auto ok = s.backups().verify(backup);
    lock.lock();
    if (!ok) return outcome("backup-corrupt", "", std::move(ok).error().context(ecu.name), Verdict::failed);
  }
  {
    auto made = s.driver(ecu);
    if (!made) return outcome("error", "", std::move(made).error(), Verdict::failed);
    driver = std::move(made).value();
  }
  // Never assume how an earlier run ended: ask the ECU what it runs now.
  lock.unlock();
  auto current = driver->read_identity();
  lock.lock();
  if (current && current->version == task.target_version) {
    bool resolved = st.flash.state == FlashState::in_progress;
    st.flash.state = FlashState::succeeded;
    st.flash.to_version = task.target_version;
    st.flash.image_sha256 = image_sha256;
    st.flash.finished_at = now_iso8601();
    st.installed = InstalledState{current->version, now_iso8601(), current->extra};
    s.event(ecu.name, "flash", resolved ? "interrupted flash had completed: ECU runs the target version"
                                        : "ECU already runs the target version");
    ECUUP_TRY(s.save());
    return outcome("flashed", fmt::format("{} already installed", task.target_version));
  }
  // An attempt of ours that left the ECU unfinished (killed, or failed and not restored): the ECU
  // may answer from its boot loader now, and what it ran before is what the attempt started from.
  const bool unfinished = st.flash.state == FlashState::in_progress || st.flash.state == FlashState::failed_unrestored;
  const std::string ran_before = unfinished ? st.flash.from_version : std::string();
  // The backup is the way back only if it holds what the ECU runs now, or ran before our
  // unfinished attempt. An ECU that answers with no valid software has nothing newer than it.
  if (options.backup == BackupPolicy::required && current && current->version != st.backup->version &&
      !(unfinished && ran_before == st.backup->version))
    return outcome("backup-mismatch", "", make_error(Errc::no_backup, fmt::format(
        "{}: the backup holds {} but the ECU runs {}, so it is no way back: run `ecuup backup` if {} was flashed by "
        "ecuup, else `ecuup backup --read --ecu {}` or `ecuup backup --import {}=FILE --version {}`, or pass --no-backup",
        ecu.name, st.backup->version, current->version, current->version, ecu.name, ecu.name, current->version)),
        Verdict::failed);
  if (st.flash.state == FlashState::in_progress)
    s.event(ecu.name, "flash", fmt::format("previous attempt was interrupted (ECU reports {}); flashing again",
                                           current ? current->version : "no valid software"));
  std::string from = !ran_before.empty() ? ran_before : current ? current->version : (st.installed ? st.installed->version : "");
  if (common.dry_run)
    return outcome("would-flash", fmt::format("{} -> {}, {} bytes, backup {}, order {}", from.empty() ? "?" : from,
                                              task.target_version, fs::file_size(image),
                                              st.backup ? st.backup->version + " (verified)" : std::string("none (--no-backup)"),
                                              ecu.order));

  st.flash.state = FlashState::in_progress;
  st.flash.attempts += 1;
  st.flash.from_version = from;
  st.flash.to_version = task.target_version;
  st.flash.image_sha256 = image_sha256;
  st.flash.started_at = now_iso8601();
  st.flash.finished_at.clear();
  st.flash.last_error.clear();
  s.event(ecu.name, "flash", fmt::format("programming {} (attempt {})", task.target_version, st.flash.attempts));
  ECUUP_TRY(s.save());  // from here a kill leaves `in_progress`, which the next run resolves

  lock.unlock();
  auto done = program_and_check(*driver, image, task.target_version, progress);
  lock.lock();
  st.flash.finished_at = now_iso8601();
  if (done) {
    st.flash.state = FlashState::succeeded;
    st.installed = InstalledState{task.target_version, now_iso8601(), {}};
    s.event(ecu.name, "flash", fmt::format("flashed {}", task.target_version));
    s.queue_feedback(ecu.name, task.action_id, FeedbackExecution::proceeding, FeedbackFinished::none,
                     {fmt::format("{}: flashed {}", ecu.name, task.target_version)});
    ECUUP_TRY(s.save());
    return outcome("flashed", fmt::format("{} -> {}", from, task.target_version));
  }
  Error cause = std::move(done).error();
  st.flash.last_error = cause.message;
  if (cause.code == Errc::interrupted) {
    // Leave `in_progress`: the next run reads the ECU and finishes, retries or restores.
    s.event(ecu.name, "flash", "interrupted while programming");
    ECUUP_TRY(s.save());
    return outcome("interrupted", "", make_error(Errc::interrupted, fmt::format(
        "flash {} interrupted; run `ecuup flash` again to resolve it", ecu.name)), Verdict::interrupted);
  }
  s.event(ecu.name, "flash", "failed: " + cause.message);
  ECUUP_TRY(s.save());
  Error result = (options.backup == BackupPolicy::required || st.backup)
                     ? restore_after_failure(s, ecu, *driver, st, cause, progress, lock)
                     : make_error(Errc::flash_unrestored, fmt::format("flash {}: {}; no backup to restore (--no-backup): "
                                                                      "the ECU needs attention", ecu.name, cause.message));
  if (result.code == Errc::flash_unrestored) st.flash.state = FlashState::failed_unrestored;
  st.flash.last_error = result.message;
  s.event(ecu.name, "flash", result.message);
  s.queue_feedback(ecu.name, task.action_id, FeedbackExecution::closed, FeedbackFinished::failure, {result.message});
  ECUUP_TRY(s.save());
  std::string word = result.code == Errc::flash_restored ? "restored" : "needs-attention";
  return outcome(std::move(word), "", std::move(result), Verdict::failed);
}

}  // namespace

Result<StepReport> flash(const Config& config, const Common& common, const FlashOptions& options) {
  ECUUP_ASSIGN(Session s, Session::open(config, common));
  StepReport rep{"flash", common.dry_run, {}, {}};
  // Every ECU's state exists before any thread holds a reference into the manifest's list.
  for (const EcuConfig* ecu : s.selected()) (void)s.manifest().ecu(ecu->name);
  // One --trace file cannot take several ECUs' traffic at once.
  const std::size_t jobs = common.trace_file.empty() ? static_cast<std::size_t>(std::max(1, options.jobs)) : 1;
  auto groups = plan_flash(s.selected(), [&config](const EcuConfig& e) { return transport_resources(e, config.base_dir); });

  bool earlier_failed = false;
  for (const FlashGroup& group : groups) {
    // Results are reported in config order, whichever lane finished first.
    std::vector<const EcuConfig*> members;
    for (const auto& lane : group.lanes) members.insert(members.end(), lane.ecus.begin(), lane.ecus.end());
    std::sort(members.begin(), members.end(), std::less<const EcuConfig*>());
    std::vector<std::optional<EcuResult>> results(members.size());
    std::optional<Error> fatal;
    std::atomic<bool> stop{false};
    auto run_lane = [&](const FlashLane& lane, Progress& progress) {
      for (const EcuConfig* ecu : lane.ecus) {
        if (stop) return;
        auto r = flash_one(s, common, options, *ecu, earlier_failed, progress);
        auto lock = s.guard();
        if (!r) {
          if (!fatal) fatal = std::move(r).error();
          stop = true;
          return;
        }
        if (r->verdict == Verdict::interrupted) stop = true;
        auto slot = static_cast<std::size_t>(std::find(members.begin(), members.end(), ecu) - members.begin());
        results[slot] = std::move(*r);
      }
    };
    const std::size_t threads = std::min(jobs, group.lanes.size());
    if (threads <= 1) {
      for (const auto& lane : group.lanes) run_lane(lane, s.progress());
    } else {
      std::atomic<std::size_t> next{0};
      std::vector<std::thread> pool;
      for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&] {
          auto progress = s.progress().concurrent_lane();
          for (std::size_t k; (k = next++) < group.lanes.size();) run_lane(group.lanes[k], *progress);
        });
      for (auto& thread : pool) thread.join();
    }
    if (fatal) return std::move(*fatal);
    for (auto& r : results) {
      if (!r) continue;
      if (r->verdict != Verdict::done) earlier_failed = true;
      rep.ecus.push_back(std::move(r->outcome));
    }
    if (stop) break;  // interrupted: the next run resolves what is `in_progress`
  }
  return rep;
}

}  // namespace ecuup::api
