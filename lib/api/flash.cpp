#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "api/flash_plan.hpp"
#include "api/precondition_gate.hpp"
#include "api/session.hpp"
#include "api/trust_gate.hpp"
#include "ecu/image_check.hpp"
#include "util/cancel.hpp"
#include "util/fs.hpp"
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
  bool programmed = false;  // this run put the target on the ECU (what a vehicle rollback undoes)
};

// Room the state directory owes to new backups not yet kept: an ECU flashed (by this run or an
// earlier one) whose image is not yet its backup, and ECUs of the same flash order being flashed
// beside this one right now. Touched only under s.guard().
class OwedRoom {
 public:
  // Bytes owed to ECUs other than `ecu`.
  std::uint64_t besides(Session& s, const std::string& ecu) const {
    std::uint64_t owed = 0;
    for (const auto& [name, st] : s.manifest().ecus()) {
      if (name == ecu || m_in_flight.contains(name) || !backup_behind(st)) continue;
      std::error_code ec;
      const std::uint64_t size = fs::file_size(s.state_path(st.download->image), ec);
      if (!ec) owed += size;
    }
    for (const auto& [name, size] : m_in_flight)
      if (name != ecu) owed += size;
    return owed;
  }
  void hold(const std::string& ecu, std::uint64_t size) { m_in_flight[ecu] = size; }
  void release(const std::string& ecu) { m_in_flight.erase(ecu); }

 private:
  std::map<std::string, std::uint64_t> m_in_flight;
};

// A flash that failed before it changed anything on the ECU (a refused session, security access
// or erase) is tried this often in all before the step ends in exit 1.
constexpr int k_untouched_attempts = 3;
// A restore is repeated this often while each attempt got as far as changing the ECU (by drivers
// that do not start over within their recovery window themselves).
constexpr int k_restore_attempts = 3;

// Programs `image` and reads the version back; success only when it is `expected`.
Result<EcuIdentity> program_and_check(EcuDriver& driver, const fs::path& image, const std::string& expected,
                                      Progress& progress) {
  driver.set_image_version(expected);
  ECUUP_TRY(driver.flash(image, progress));
  auto id = driver.read_identity();
  if (!id) return std::move(id).error().context("read version after programming");
  if (id->version != expected)
    return make_error(Errc::ecu, fmt::format("the ECU reports version {} after programming, expected {}", id->version, expected));
  return id;
}

// Asks the ECU what it runs through the driver's recovery window: after a failure or a kill it
// may be resetting, booting or refusing connections for a while.
Result<EcuIdentity> read_back(EcuDriver& driver) {
  driver.set_recovery(true);
  auto id = driver.read_identity();
  driver.set_recovery(false);
  return id;
}

}  // namespace

Result<EcuIdentity> program_backup(Session& s, EcuDriver& driver, const BackupRecord& backup, Progress& progress) {
  InterruptShield shield;
  // A read-out goes back where it was read from, whatever the config's image settings say now.
  ECUUP_TRY(driver.set_image_layout(backup.layout));
  driver.set_recovery(true);
  Result<EcuIdentity> r = make_error(Errc::internal, "restore not attempted");
  for (int attempt = 1; attempt <= k_restore_attempts; ++attempt) {
    r = program_and_check(driver, s.backups().absolute(backup), backup.version, progress);
    if (r) break;
    // The recovery window was spent getting in, or (a driver that starts over by itself) spent on
    // silence and dropped links: no point in asking or repeating. A refusal (an NRC such as a
    // failed check routine) is worth one more whole attempt.
    if (!driver.touched()) break;
    const Errc code = r.error().code;
    if (driver.retries_in_recovery() && code != Errc::negative_response && code != Errc::ecu) break;
    // Before calling it lost, ask once more: the restore may have landed after all.
    if (auto id = driver.read_identity(); id && id->version == backup.version) {
      r = std::move(id);
      break;
    }
    if (attempt < k_restore_attempts)
      progress.note(fmt::format("restore attempt {} failed: {}; trying again", attempt, r.error().message));
  }
  driver.set_recovery(false);
  (void)driver.set_image_layout({});
  return r;
}

namespace {

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
  auto restored = [&]() -> Result<EcuIdentity> {
    ECUUP_TRY(s.backups().verify(backup));
    return program_backup(s, driver, backup, restoring);
  }();
  lock.lock();
  if (!restored) {
    state.flash.state = FlashState::failed_unrestored;
    state.flash.last_error = fmt::format("{}; restore failed: {}", cause.message, restored.error().message);
    return make_error(Errc::flash_unrestored,
                      fmt::format("flash {}: {}; RESTORE FAILED: {}. ECU {} needs attention.", ecu.name, cause.message,
                                  restored.error().message, ecu.name));
  }
  state.flash.state = FlashState::failed_restored;
  state.installed = InstalledState{backup.version, now_iso8601(), restored->extra};
  return make_error(Errc::flash_restored, fmt::format("flash {}: {}; restored backup {} and verified it", ecu.name,
                                                      cause.message, backup.version));
}

// The typed facts of a would-flash: what a dry run plans (ecuup-json(7)).
nlohmann::json plan_facts(const std::string& from, const std::string& to, std::uint64_t bytes, const std::string& backup,
                          bool backup_verified, int order) {
  return {{"from_version", from.empty() ? nlohmann::json() : nlohmann::json(from)},
          {"to_version", to},
          {"bytes", bytes},
          {"backup_version", backup.empty() ? nlohmann::json() : nlohmann::json(backup)},
          {"backup_verified", backup_verified},
          {"order", order}};
}

// Records that the ECU runs the task's target now.
void mark_flashed(EcuState& st, const TaskState& task, const std::string& image_sha256,
                  std::map<std::string, std::string> extra = {}) {
  st.flash.state = FlashState::succeeded;
  st.flash.to_version = task.target_version;
  st.flash.image_sha256 = image_sha256;
  st.flash.finished_at = now_iso8601();
  st.flash.last_error.clear();
  st.installed = InstalledState{task.target_version, now_iso8601(), std::move(extra)};
  record_security_version(st, task);
}

// An unfinished attempt with no task left to finish (a restore that was cut off, a task the
// server withdrew): the way back is the backup.
Result<EcuResult> resolve_without_task(Session& s, const Common& common, const EcuConfig& ecu, EcuState& st,
                                       Progress& progress, std::unique_lock<std::mutex>& lock) {
  auto outcome = [&](std::string result, std::string detail, std::optional<Error> error = std::nullopt,
                     Verdict verdict = Verdict::done) {
    return EcuResult{{ecu.name, std::move(result), std::move(detail), std::move(error)}, verdict};
  };
  if (common.dry_run)
    return outcome("would-restore", st.backup ? "unfinished flash: backup " + st.backup->version : "unfinished flash, no backup");
  ECUUP_ASSIGN(auto driver, s.driver(ecu));
  lock.unlock();
  auto id = read_back(*driver);
  lock.lock();
  if (id && st.backup && id->version == st.backup->version) {
    st.flash.state = FlashState::none;
    st.installed = InstalledState{id->version, now_iso8601(), id->extra};
    s.event(ecu.name, "flash", fmt::format("unfinished attempt resolved: ECU runs its backup {}", id->version));
    ECUUP_TRY(s.save());
    return outcome("resolved", fmt::format("runs its backup {}", id->version));
  }
  Error cause = make_error(Errc::ecu, fmt::format("an unfinished attempt left it answering {}",
                                                  id ? id->version : "nothing readable"));
  Error result = restore_after_failure(s, ecu, *driver, st, cause, progress, lock);
  st.flash.last_error = result.message;
  s.event(ecu.name, "flash", result.message);
  ECUUP_TRY(s.save());
  return outcome(result.code == Errc::flash_restored ? "restored" : "needs-attention", "", std::move(result),
                 Verdict::failed);
}

// One ECU's whole turn. Runs on its own thread when its flash order has several lanes: the session is
// touched only under s.guard(); hashing, reading and programming the ECU run without it.
Result<EcuResult> flash_one(Session& s, const Common& common, const FlashOptions& options, const TrustGate& trust,
                            const EcuConfig& ecu, bool earlier_failed, OwedRoom& owed, Progress& progress) {
  std::unique_ptr<EcuDriver> driver;  // declared before the lock: closing the link does not hold it
  auto lock = s.guard();
  // Whichever way this turn ends, the room held for it is given back under the lock; a flashed
  // ECU's image is owed from then on through the manifest (backup_behind).
  struct Release {
    OwedRoom& owed;
    const std::string& ecu;
    ~Release() { owed.release(ecu); }
  } release{owed, ecu.name};
  EcuState& st = s.manifest().ecu(ecu.name);
  auto outcome = [&](std::string result, std::string detail, std::optional<Error> error = std::nullopt,
                     Verdict verdict = Verdict::done) {
    return EcuResult{{ecu.name, std::move(result), std::move(detail), std::move(error)}, verdict};
  };
  // An attempt of ours that left the ECU unfinished (killed, or failed and not restored): the ECU
  // may answer from its boot loader now, and what it ran before is what the attempt started from.
  // It is resolved whatever else happened: never skipped, never compared as a version.
  const bool unfinished = flash_unfinished(st);
  if (!st.task) {
    if (!unfinished || common.plan) return outcome("no-task", "nothing to flash");
    return resolve_without_task(s, common, ecu, st, progress, lock);
  }
  const TaskState task = *st.task;
  if (!unfinished) {
    if (task.download_only) return outcome("download-only", "the server asked for download only");
    if (!task.maintenance_window_open) return outcome("deferred", "maintenance window closed: not flashing now");
  }
  if (st.flash.state == FlashState::succeeded && st.flash.to_version == task.target_version)
    return outcome("flashed", fmt::format("{} already flashed", task.target_version));
  if (earlier_failed && !unfinished) return outcome("skipped", "an ECU earlier in the flash order failed");
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
    EcuResult r = outcome("would-flash", fmt::format("{} -> {}, {} bytes once fetched, backup {}, order {}",
                                                     st.installed ? st.installed->version : "?", task.target_version,
                                                     bytes, backup, ecu.order));
    r.outcome.facts = plan_facts(st.installed ? st.installed->version : "", task.target_version, bytes,
                                 st.backup ? st.backup->version : "", false, ecu.order);
    if (!unfinished) add_planned_preconditions(r.outcome, ecu);
    return r;
  }
  if (!st.download || !st.download->verified)
    return outcome("not-downloaded", "", make_error(Errc::not_found, fmt::format("{}: {} is not downloaded and verified yet: run `ecuup fetch`",
                                                                                 ecu.name, task.target_version)));
  // `trust:`: the kept statement again (expiry, anti-rollback), then the artifact on disk against
  // the signed sha256 and size, before anything reads it.
  if (trust.enabled()) {
    lock.unlock();
    auto admitted = [&]() -> Result<void> {
      ECUUP_ASSIGN(auto statement, trust.recheck(s, ecu, st));
      return TrustGate::check_artifact(s, *statement, st);
    }();
    lock.lock();
    if (!admitted) {
      st.download->verified = false;
      return outcome("refused", "", std::move(admitted).error().context(ecu.name), Verdict::failed);
    }
  }
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
  // And it must read as the driver will read it: a download verified by an older ecuup, or a
  // config whose image format changed since, is caught here, before the first request.
  lock.unlock();
  auto readable = check_ecu_image(ecu, DriverContext{s.config().base_dir, common.trace_file, common.verbosity}, image);
  lock.lock();
  if (!readable) {
    if (readable.error().code != Errc::verify && readable.error().code != Errc::config)
      return outcome("error", "", std::move(readable).error().context(ecu.name), Verdict::failed);
    st.download->verified = false;
    return outcome("verify-failed", "", std::move(readable).error().context(ecu.name + ": the image cannot be flashed"),
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
  // After the flash the new software becomes the ECU's backup: an ECU is not flashed while the
  // state directory has no room to keep it (the backup step would fail, and the old backup stay
  // the way back). An unfinished attempt is resolved whatever the room.
  if (!unfinished) {
    std::error_code ec;
    std::uint64_t size = fs::file_size(image, ec);
    if (ec) size = 0;
    const std::uint64_t others = owed.besides(s, ecu.name);
    std::string what = "the new backup of " + ecu.name;
    if (others > 0) what += fmt::format(" and the {} bytes owed to new backups of other ECUs not yet kept", others);
    if (auto room = require_free_space(s.config().state_dir, size + others, what); !room)
      return outcome("no-room", "", std::move(room).error().context(ecu.name), Verdict::failed);
    owed.hold(ecu.name, size);
  }
  if (!s.busy().empty()) {
    // A dry run while another ecuup runs: planned from the manifest; the ECU, perhaps being
    // programmed right now, is not asked.
    std::string from = unfinished ? st.flash.from_version : st.installed ? st.installed->version : "";
    EcuResult r = outcome("would-flash", fmt::format("{} -> {}, {} bytes, backup {}, order {} (as last recorded: ECU not asked)",
                                                     from.empty() ? "?" : from, task.target_version, fs::file_size(image),
                                                     st.backup ? st.backup->version : std::string("none (--no-backup)"),
                                                     ecu.order));
    r.outcome.facts = plan_facts(from, task.target_version, fs::file_size(image), st.backup ? st.backup->version : "",
                                 st.backup.has_value(), ecu.order);
    r.outcome.facts["ecu_asked"] = false;
    if (!unfinished) add_planned_preconditions(r.outcome, ecu);
    return r;
  }
  {
    auto made = s.driver(ecu);
    if (!made) return outcome("error", "", std::move(made).error(), Verdict::failed);
    driver = std::move(made).value();
  }
  // Never assume how an earlier run ended: ask the ECU what it runs now (through the recovery
  // window when our own unfinished attempt may have left it booting).
  lock.unlock();
  auto current = unfinished ? read_back(*driver) : driver->read_identity();
  lock.lock();
  if (current && current->version == task.target_version) {
    mark_flashed(st, task, image_sha256, current->extra);
    s.event(ecu.name, "flash", unfinished ? "interrupted flash had completed: ECU runs the target version"
                                          : "ECU already runs the target version");
    ECUUP_TRY(s.save());
    return outcome("flashed", fmt::format("{} already installed", task.target_version));
  }
  const std::string ran_before = unfinished ? st.flash.from_version : std::string();
  // The backup is the way back only if it holds what the ECU runs now, or what our unfinished
  // attempt started from or was restoring. An ECU that answers with no valid software has nothing
  // newer than it.
  if (options.backup == BackupPolicy::required && current && current->version != st.backup->version &&
      !(unfinished && (ran_before == st.backup->version || st.flash.to_version == st.backup->version)))
    return outcome("backup-mismatch", "", make_error(Errc::no_backup, fmt::format(
        "{}: the backup holds {} but the ECU runs {}, so it is no way back: run `ecuup backup` if {} was flashed by "
        "ecuup, else `ecuup backup --read --ecu {}` or `ecuup backup --import {}=FILE --version {}`, or pass --no-backup",
        ecu.name, st.backup->version, current->version, current->version, ecu.name, ecu.name, current->version)),
        Verdict::failed);
  if (unfinished)
    s.event(ecu.name, "flash", fmt::format("previous attempt was interrupted (ECU reports {}); flashing again",
                                           current ? current->version : "no valid software"));
  std::string from = !ran_before.empty() ? ran_before : current ? current->version : (st.installed ? st.installed->version : "");
  if (common.dry_run) {
    EcuResult r = outcome("would-flash", fmt::format("{} -> {}, {} bytes, backup {}, order {}", from.empty() ? "?" : from,
                                                     task.target_version, fs::file_size(image),
                                                     st.backup ? st.backup->version + " (verified)" : std::string("none (--no-backup)"),
                                                     ecu.order));
    r.outcome.facts = plan_facts(from, task.target_version, fs::file_size(image), st.backup ? st.backup->version : "",
                                 st.backup.has_value(), ecu.order);
    r.outcome.facts["ecu_asked"] = true;
    // What the driver would send: the boot loader, erase ranges and segments (a container's plan).
    lock.unlock();
    auto steps = driver->describe_flash(image);
    lock.lock();
    if (!steps) return outcome("error", "", std::move(steps).error().context(ecu.name), Verdict::failed);
    if (!steps->empty()) {
      for (const auto& line : *steps) r.outcome.detail += "\n    " + line;
      r.outcome.facts["plan"] = *steps;
    }
    if (!unfinished) add_planned_preconditions(r.outcome, ecu);
    return r;
  }
  // Preconditions (battery, vehicle speed, bench), after the backup check and before the first
  // request that changes the ECU. Not for an unfinished attempt: that ECU is put right whatever.
  std::optional<PreconditionVerdict> gate;
  if (!unfinished && !ecu.preconditions.empty()) {
    lock.unlock();
    auto checked = check_preconditions(*driver, ecu, options.preconditions, progress);
    lock.lock();
    if (!checked) {
      const bool stopped = checked.error().code == Errc::interrupted;
      return outcome(stopped ? "interrupted" : "error", "", std::move(checked).error().context(ecu.name),
                     stopped ? Verdict::interrupted : Verdict::failed);
    }
    gate = std::move(checked).value();
    s.event(ecu.name, "flash", gate->summary());
    if (gate->refusal) {
      ECUUP_TRY(s.save());
      EcuResult r = outcome("preconditions-not-met", "", *gate->refusal, Verdict::failed);
      r.outcome.facts = gate->facts();
      return r;
    }
  }

  std::optional<Error> failure;
  for (int attempt = 1; !failure; ++attempt) {
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
      mark_flashed(st, task, image_sha256);
      s.event(ecu.name, "flash", fmt::format("flashed {}", task.target_version));
      s.queue_feedback(ecu.name, task.action_id, FeedbackExecution::proceeding, FeedbackFinished::none,
                       {fmt::format("{}: flashed {}", ecu.name, task.target_version)});
      ECUUP_TRY(s.save());
      EcuResult r = outcome("flashed", fmt::format("{} -> {}", from, task.target_version));
      r.outcome.facts = {{"from_version", from.empty() ? nlohmann::json() : nlohmann::json(from)},
                         {"to_version", task.target_version},
                         {"bytes", fs::file_size(image)},
                         {"image_sha256", image_sha256},
                         {"attempts", st.flash.attempts}};
      if (gate) r.outcome.facts.update(gate->facts());
      r.programmed = true;
      return r;
    }
    Error cause = std::move(done).error();
    st.flash.last_error = cause.message;
    // Touched, or the ECU was not runnable to begin with: only the backup puts it back.
    if (driver->touched() || unfinished) {
      failure = std::move(cause);
      break;
    }
    // Nothing on the ECU changed: it still runs `from`. Never restore an untouched ECU.
    const bool interrupted = cause.code == Errc::interrupted || interrupt_requested();
    // A bad config or an ECU the software is not for (a container's expected idents) stays so:
    // no second attempt, and the exit code says which (2, 4) rather than a failure (1).
    const bool settled = cause.code == Errc::config || cause.code == Errc::verify;
    if (interrupted || settled || attempt >= k_untouched_attempts) {
      st.flash.state = FlashState::none;
      st.installed = InstalledState{from, now_iso8601(), current ? current->extra : std::map<std::string, std::string>{}};
      std::string message = fmt::format("flash {}: {}; nothing on the ECU was changed, it still runs {}", ecu.name,
                                        cause.message, from.empty() ? "its software" : from);
      s.event(ecu.name, "flash", message);
      ECUUP_TRY(s.save());
      if (interrupted)
        return outcome("interrupted", "", make_error(Errc::interrupted, message), Verdict::interrupted);
      if (cause.code == Errc::verify) return outcome("refused", "", make_error(Errc::verify, message), Verdict::failed);
      return outcome("failed", "", make_error(settled ? cause.code : Errc::ecu, message), Verdict::failed);
    }
    s.event(ecu.name, "flash", fmt::format("failed before anything was changed ({}); trying again", cause.message));
  }

  Error cause = std::move(*failure);
  // A signal may surface as any error of the step it cut short (a wait for an answer, say).
  const bool interrupted = cause.code == Errc::interrupted || interrupt_requested();
  s.event(ecu.name, "flash", interrupted ? "interrupted while programming: putting the ECU back" : "failed: " + cause.message);
  ECUUP_TRY(s.save());
  // Before claiming an outcome, ask the ECU: a flash cut during its final reset may have landed.
  lock.unlock();
  std::optional<EcuIdentity> after;
  {
    InterruptShield shield;
    if (auto id = read_back(*driver)) after = std::move(*id);
  }
  lock.lock();
  if (after && after->version == task.target_version) {
    mark_flashed(st, task, image_sha256, after->extra);
    s.event(ecu.name, "flash", fmt::format("{}, but the ECU runs {}: flashed", cause.message, task.target_version));
    s.queue_feedback(ecu.name, task.action_id, FeedbackExecution::proceeding, FeedbackFinished::none,
                     {fmt::format("{}: flashed {}", ecu.name, task.target_version)});
    ECUUP_TRY(s.save());
    EcuResult r = outcome("flashed", fmt::format("{} -> {} (the ECU took it despite: {})", from, task.target_version,
                                                 cause.message));
    r.programmed = true;
    return r;
  }
  Error result = (options.backup == BackupPolicy::required || st.backup)
                     ? restore_after_failure(s, ecu, *driver, st, cause, progress, lock)
                     : make_error(Errc::flash_unrestored, fmt::format("flash {}: {}; no backup to restore (--no-backup): "
                                                                      "the ECU needs attention", ecu.name, cause.message));
  if (result.code == Errc::flash_unrestored) st.flash.state = FlashState::failed_unrestored;
  st.flash.last_error = result.message;
  s.event(ecu.name, "flash", result.message);
  if (interrupted && result.code == Errc::flash_restored) {
    // Interrupted and put back: the ECU runs its backup; the task stays for the next run.
    ECUUP_TRY(s.save());
    return outcome("interrupted", "", make_error(Errc::interrupted, result.message), Verdict::interrupted);
  }
  s.queue_feedback(ecu.name, task.action_id, FeedbackExecution::closed, FeedbackFinished::failure, {result.message});
  ECUUP_TRY(s.save());
  std::string word = result.code == Errc::flash_restored ? "restored" : "needs-attention";
  return outcome(std::move(word), "", std::move(result), Verdict::failed);
}

// Vehicle rollback: puts an ECU this run flashed back on its backup (the software it ran before
// the run: the backup step has not kept the new software yet).
EcuOutcome roll_back(Session& s, const EcuConfig& ecu, const std::string& failed, Progress& progress) {
  std::unique_ptr<EcuDriver> driver;
  auto lock = s.guard();
  EcuState& st = s.manifest().ecu(ecu.name);
  Error cause = make_error(Errc::ecu, fmt::format("vehicle rollback after {} failed", failed));
  if (!st.backup)
    return {ecu.name, "needs-attention", "", make_error(Errc::flash_unrestored, fmt::format(
        "{}: {}, but it has no backup to roll back to: it keeps {}", ecu.name, cause.message, st.flash.to_version))};
  auto made = s.driver(ecu);
  if (!made) return {ecu.name, "needs-attention", "", std::move(made).error().context("roll back " + ecu.name)};
  driver = std::move(made).value();
  const std::string target = st.flash.to_version;
  st.flash.state = FlashState::in_progress;
  st.flash.from_version = target;
  st.flash.to_version = st.backup->version;
  st.flash.started_at = now_iso8601();
  s.event(ecu.name, "flash", fmt::format("{}: rolling back from {} to {}", cause.message, target, st.backup->version));
  (void)s.save();
  Error result = restore_after_failure(s, ecu, *driver, st, cause, progress, lock);
  st.flash.finished_at = now_iso8601();
  st.flash.last_error = result.message;
  s.event(ecu.name, "flash", result.message);
  if (st.task)
    s.queue_feedback(ecu.name, st.task->action_id, FeedbackExecution::closed, FeedbackFinished::failure, {result.message});
  (void)s.save();
  return {ecu.name, result.code == Errc::flash_restored ? "rolled-back" : "needs-attention", "", std::move(result)};
}

}  // namespace

Result<StepReport> flash(const Config& config, const Common& common, const FlashOptions& options) {
  ECUUP_ASSIGN(TrustGate trust, TrustGate::open(config));
  ECUUP_ASSIGN(Session s, Session::open(config, common));
  StepReport rep{"flash", common.dry_run, {}, {}};
  for (auto& kept : s.settle()) rep.ecus.push_back(std::move(kept));
  if (auto note = s.busy_note()) rep.notes.push_back(std::move(*note));
  // Every ECU's state exists before any thread holds a reference into the manifest's list.
  for (const EcuConfig* ecu : s.selected()) (void)s.manifest().ecu(ecu->name);
  // One --trace file cannot take several ECUs' traffic at once.
  const std::size_t jobs = common.trace_file.empty() ? static_cast<std::size_t>(std::max(1, options.jobs)) : 1;
  auto groups = plan_flash(s.selected(), [&config](const EcuConfig& e) { return transport_resources(e, config.base_dir); });

  const Rollback rollback = options.rollback.value_or(config.rollback);
  // ECUs this run put their target on, in flash order: what a vehicle rollback undoes, last first.
  std::vector<const EcuConfig*> programmed;
  bool earlier_failed = false;
  OwedRoom owed;
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
        if (stop || interrupt_requested()) return;  // a signal: no new ECU is begun
        const auto began = std::chrono::steady_clock::now();
        auto r = flash_one(s, common, options, trust, *ecu, earlier_failed, owed, progress);
        if (r) r->outcome.facts["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
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
      const std::vector<std::size_t> order = lanes_longest_first(group);
      std::atomic<std::size_t> next{0};
      std::vector<std::thread> pool;
      for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&] {
          auto progress = s.progress().concurrent_lane();
          for (std::size_t k; (k = next++) < order.size();) run_lane(group.lanes[order[k]], *progress);
        });
      for (auto& thread : pool) thread.join();
    }
    if (fatal) return std::move(*fatal);
    std::string failed;
    for (std::size_t i = 0; i < results.size(); ++i) {
      auto& r = results[i];
      if (!r) continue;
      if (r->verdict != Verdict::done) earlier_failed = true;
      if (r->programmed) programmed.push_back(members[i]);
      const auto& e = r->outcome.error;
      if (r->verdict == Verdict::failed && e && (e->code == Errc::flash_restored || e->code == Errc::flash_unrestored) &&
          failed.empty())
        failed = members[i]->name;
      rep.ecus.push_back(std::move(r->outcome));
    }
    if (!failed.empty() && rollback == Rollback::vehicle && !common.dry_run) {
      for (auto it = programmed.rbegin(); it != programmed.rend(); ++it) {
        EcuOutcome undone = roll_back(s, **it, failed, s.progress());
        for (auto& o : rep.ecus)
          if (o.ecu == undone.ecu) o = std::move(undone);
      }
      rep.notes.push_back(fmt::format("rollback: vehicle: {} failed, so {} ECU(s) flashed in this run were put back on their "
                                      "backups, last flashed first", failed, programmed.size()));
      programmed.clear();
    }
    if (stop || interrupt_requested()) break;  // interrupted: the next run resolves what is `in_progress`
  }
  return s.finish(std::move(rep));
}

}  // namespace ecuup::api
