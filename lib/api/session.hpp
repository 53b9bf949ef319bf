#pragma once
// What every step shares: the lock, the manifest, the ECU selection, drivers, the repository.
#include <memory>
#include <mutex>

#include "api/api.hpp"
#include "ecu/driver.hpp"
#include "repository/repository.hpp"
#include "store/backups.hpp"
#include "util/lock.hpp"

namespace ecuup::api {

// An ECU's manifest state as the typed JSON of `state` in every step's --json (ecuup-json(7)).
nlohmann::json ecu_state_json(const EcuState& st);
nlohmann::json backup_record_json(const BackupRecord& b);

// The writer's lock (lock_manifest). When another ecuup holds it and `or_go_on` is set: no lock,
// and `busy` says who holds it, so that a reader or a dry run can carry on without it.
Result<std::optional<FileLock>> lock_unless_busy(const Config& config, const Common& common, bool or_go_on,
                                                 std::string& busy);

// How a step opens the manifest. The manifest is replaced by an atomic rename, so a reader without
// the lock always sees the last committed file, never a half-written one.
enum class Access {
  write,  // takes the writer's lock (waiting as --wait says), or Errc::locked; a dry run opens as `look`
  look,   // takes the lock when it is free; when another ecuup holds it, reads the last committed
          // manifest, writes nothing and asks no ECU (busy() says who holds it)
  read,   // never takes the lock: the last committed manifest, never written (status --no-sync, backup --list)
};

class Session {
 public:
  // Validates the selection, creates the state dir, takes the lock as `access` says (never when
  // Common::lock_held) and loads the manifest.
  static Result<Session> open(const Config& config, const Common& common, Access access = Access::write);

  // Threads working for one step (parallel flashing) hold this while they touch the session:
  // manifest, events, save(), the feedback queue, drivers' creation. Single-threaded steps need not.
  std::unique_lock<std::mutex> guard() { return std::unique_lock<std::mutex>(*m_mutex); }

  const Config& config() const { return *m_config; }
  const Common& common() const { return *m_common; }
  Manifest& manifest() { return m_common->plan ? *m_common->plan : m_manifest; }
  Progress& progress() { return m_common->progress ? *m_common->progress : null_progress(); }
  const std::vector<const EcuConfig*>& selected() const { return m_selected; }
  BackupStore backups() const { return BackupStore(m_config->state_dir); }
  std::filesystem::path state_path(const std::string& rel) const { return m_config->state_dir / rel; }

  // Writes the manifest now (atomically); called after every state change that must survive a kill.
  // A session without the lock (a reader, a dry run) writes nothing.
  Result<void> save();
  // save() after an ECU failed with `cause`. When the save fails too (a full disk), the error names
  // both, the ECU's first: what went wrong with the ECU must not hide behind the manifest.
  Result<void> save_after(const Error& cause);
  // save() then finish(): when the save fails, the error names the report's first ECU failure too.
  Result<StepReport> save_and_finish(StepReport rep);
  // Non-empty when another ecuup held the lock and this session only reads (Access::look): a note
  // naming it. Such a session must not ask any ECU: the other ecuup may be programming it.
  const std::string& busy() const { return m_busy; }
  // The step note for such a session, or nothing.
  std::optional<std::string> busy_note() const;
  Result<std::unique_ptr<EcuDriver>> driver(const EcuConfig& ecu) const;
  Result<Repository*> repository();

  // Finishes what an earlier run left behind that needs no ECU: a flash that succeeded but whose
  // `backup` step never ran (killed, disk full) gets its new backup now, so the backup always
  // follows what the ECU runs. Every step that changes the manifest calls it first.
  std::vector<EcuOutcome> settle();
  // Keeps the software `st` was flashed with as the ECU's new backup (the `backup` step).
  Result<EcuOutcome> keep_flashed(const EcuConfig& ecu, EcuState& st);
  // Makes `rec` the ECU's current backup (rotating the older ones), saves the manifest, and only
  // then deletes the backup files it no longer names.
  Result<void> keep_backup(const EcuConfig& ecu, EcuState& st, BackupRecord rec);

  // The step's report as it is returned: each ECU's manifest state attached, the work clock stopped.
  StepReport finish(StepReport rep) const;

  void event(const std::string& ecu, const std::string& step, const std::string& message);
  // Queues a result for the server; delivered by deliver_feedback().
  void queue_feedback(const std::string& ecu, const std::string& action_id, FeedbackExecution execution,
                      FeedbackFinished finished, std::vector<std::string> details, int cnt = -1, int of = -1,
                      bool for_cancel = false);
  // Sends what is queued; keeps what could not be delivered for the next run. Returns notes.
  std::vector<std::string> deliver_feedback();

 private:
  Session(const Config& config, const Common& common, std::optional<FileLock> lock)
      : m_config(&config), m_common(&common), m_lock(std::move(lock)) {}
  const Config* m_config;
  const Common* m_common;
  std::optional<FileLock> m_lock;  // empty when the caller holds it (Common::lock_held), or a reader
  bool m_writer = true;            // holds the lock, itself or through Common::lock_held
  std::string m_busy;
  Manifest m_manifest;
  std::vector<const EcuConfig*> m_selected;
  std::unique_ptr<Repository> m_repository;
  std::unique_ptr<std::mutex> m_mutex = std::make_unique<std::mutex>();  // movable Session, stable mutex
};

// An attempt of ours that has not ended (killed, interrupted, or failed and not restored): the ECU
// may run the target, its old software, half of the new one or only its boot loader. Never a
// version to compare; a flash to finish or restore.
bool flash_unfinished(const EcuState& st);
// Programs `backup` onto the ECU as the way back is programmed, after a failed flash and by
// `ecuup restore`: in recovery mode, shielded from a first signal, where a read-out was read from,
// and tried again (up to 3 times) while attempts got as far as changing the ECU. Success, with what
// the ECU then reports, only when that is the backup's version.
Result<EcuIdentity> program_backup(Session& s, EcuDriver& driver, const BackupRecord& backup, Progress& progress);
// A successful flash whose software is not yet the ECU's backup.
bool backup_behind(const EcuState& st);

// The worst of two exit codes for a combined result ("was the ECU touched?" wins).
ExitCode worse(ExitCode a, ExitCode b);

}  // namespace ecuup::api
