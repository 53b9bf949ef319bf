#include "api/session.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "api/live_log.hpp"
#include "api/vehicle_check.hpp"
#include "api/work_clock.hpp"
#include "transport/trace.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"

namespace ecuup::api {

namespace fs = std::filesystem;

namespace {

int severity(ExitCode c) {
  switch (c) {
    case ExitCode::needs_attention: return 100;
    case ExitCode::restored: return 90;
    case ExitCode::interrupted: return 80;
    case ExitCode::wrong_vehicle: return 75;
    case ExitCode::preconditions: return 72;
    case ExitCode::verify: return 70;
    case ExitCode::refused: return 65;
    case ExitCode::network: return 60;
    case ExitCode::failure: return 50;
    case ExitCode::usage: return 40;
    case ExitCode::locked: return 30;
    case ExitCode::pending: return 10;
    case ExitCode::ok: return 0;
  }
  return 0;
}

std::optional<FeedbackExecution> parse_execution(const std::string& s) {
  for (auto e : {FeedbackExecution::proceeding, FeedbackExecution::closed, FeedbackExecution::canceled,
                 FeedbackExecution::rejected, FeedbackExecution::resumed, FeedbackExecution::scheduled,
                 FeedbackExecution::downloaded, FeedbackExecution::download})
    if (s == feedback_execution_name(e)) return e;
  return std::nullopt;
}

FeedbackFinished parse_finished(const std::string& s) {
  if (s == "success") return FeedbackFinished::success;
  if (s == "failure") return FeedbackFinished::failure;
  return FeedbackFinished::none;
}

}  // namespace

ExitCode worse(ExitCode a, ExitCode b) { return severity(a) >= severity(b) ? a : b; }

ExitCode StepReport::exit_code() const {
  ExitCode code = ExitCode::ok;
  for (const auto& e : ecus)
    if (e.error) code = worse(code, exit_code_for(e.error->code));
  return code;
}

nlohmann::json StepReport::to_json() const {
  nlohmann::json j = {{"schema", k_json_schema},
                      {"step", step},
                      {"dry_run", dry_run},
                      {"exit_code", static_cast<int>(exit_code())},
                      {"exit_meaning", exit_code_meaning(exit_code())}};
  j["ecus"] = nlohmann::json::array();
  for (const auto& e : ecus) {
    const ExitCode code = e.error ? exit_code_for(e.error->code) : ExitCode::ok;
    nlohmann::json x = {{"name", e.ecu},
                        {"result", e.result},
                        {"detail", e.detail},
                        {"exit_code", static_cast<int>(code)},
                        {"facts", e.facts},
                        {"state", e.state}};
    if (e.error) x["error"] = {{"kind", errc_name(e.error->code)}, {"message", e.error->message}};
    j["ecus"].push_back(std::move(x));
  }
  j["notes"] = notes;
  j["work_seconds"] = std::chrono::duration<double>(work).count();
  return j;
}

namespace {

nlohmann::json text_or_null(const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); }

}  // namespace

nlohmann::json backup_record_json(const BackupRecord& b) {
  return {{"version", b.version}, {"sha256", b.sha256}, {"bytes", b.size}, {"source", text_or_null(b.source)},
          {"at", text_or_null(b.at)}, {"path", b.path}};
}

nlohmann::json ecu_state_json(const EcuState& st) {
  nlohmann::json j;
  j["installed_version"] = st.installed && !flash_unfinished(st) ? text_or_null(st.installed->version) : nlohmann::json();
  j["installed_read_at"] = st.installed ? text_or_null(st.installed->read_at) : nlohmann::json();
  j["target_version"] = st.task ? nlohmann::json(st.task->target_version) : nlohmann::json();
  j["action_id"] = st.task ? nlohmann::json(st.task->action_id) : nlohmann::json();
  j["download"] = st.download ? nlohmann::json{{"sha256", st.download->sha256},
                                               {"bytes", st.download->size},
                                               {"verified", st.download->verified},
                                               {"image_sha256", text_or_null(st.download->image_sha256)},
                                               {"at", text_or_null(st.download->at)}}
                              : nlohmann::json();
  j["flash"] = {{"state", flash_state_name(st.flash.state)},
                {"attempts", st.flash.attempts},
                {"from_version", text_or_null(st.flash.from_version)},
                {"to_version", text_or_null(st.flash.to_version)},
                {"started_at", text_or_null(st.flash.started_at)},
                {"finished_at", text_or_null(st.flash.finished_at)},
                {"last_error", text_or_null(st.flash.last_error)}};
  j["backup"] = st.backup ? backup_record_json(*st.backup) : nlohmann::json();
  j["older_backups"] = nlohmann::json::array();
  for (const auto& b : st.older_backups) j["older_backups"].push_back(backup_record_json(b));
  return j;
}

StepReport Session::finish(StepReport rep) const {
  const Manifest& m = m_common->plan ? *m_common->plan : m_manifest;
  for (auto& e : rep.ecus)
    if (const EcuState* st = m.find(e.ecu)) e.state = ecu_state_json(*st);
  return rep.done();
}

Result<FileLock> lock_manifest(const Config& config, const Common& common) {
  ECUUP_TRY(ensure_directory(config.state_dir));
  return FileLock::acquire(config.state_dir / "manifest.lock", common.lock_wait);
}

namespace {

// What a killed run leaves behind in the state directory: the temp sibling of an atomic write
// (".NAME.tmp.PID.RAND"), a backup copy or read-out that never reached the store, an archive
// half extracted. Only the holder of the manifest lock writes there, so for it these are dead
// and only take room; resumable downloads (downloads/partial/*.part) are not among them. Only
// the directories ecuup itself writes are looked at, never inside an extracted artifact.
void sweep_leftovers(const fs::path& state_dir) {
  auto leftover = [](const std::string& name) {
    if (name.size() < 2 || name[0] != '.') return false;
    return name.find(".tmp.") != std::string::npos || name.starts_with(".incoming.") || name.starts_with(".readout-") ||
           name.find(".extract-") != std::string::npos;
  };
  try {
    std::vector<fs::path> dirs{state_dir, state_dir / "backups", state_dir / "downloads", state_dir / "downloads/partial"};
    std::error_code ec;
    for (const char* nested : {"backups", "statements"})
      for (const auto& entry : fs::directory_iterator(state_dir / nested, ec))
        if (entry.is_directory(ec)) dirs.push_back(entry.path());
    std::vector<fs::path> dead;
    for (const auto& dir : dirs)
      for (const auto& entry : fs::directory_iterator(dir, ec))
        if (leftover(entry.path().filename().string())) dead.push_back(entry.path());
    for (const auto& path : dead) fs::remove_all(path, ec);
  } catch (const fs::filesystem_error&) {
    // Housekeeping only: what cannot be listed or removed now is tried again next time.
  }
}

}  // namespace

Result<std::optional<FileLock>> lock_unless_busy(const Config& config, const Common& common, bool or_go_on,
                                                 std::string& busy) {
  auto taken = lock_manifest(config, common);
  if (taken) {
    if (!common.dry_run) sweep_leftovers(config.state_dir);
    return std::optional<FileLock>(std::move(taken).value());
  }
  // A reader of a state directory it cannot write (a read-only mount, another user's bench) looks
  // at the last committed manifest, as it would while another ecuup works.
  if (or_go_on && taken.error().code == Errc::io && ::access(config.state_dir.c_str(), W_OK) != 0) {
    busy = fmt::format("the state directory {} is not writable here ({})", config.state_dir.string(), std::strerror(errno));
    return std::optional<FileLock>();
  }
  if (taken.error().code != Errc::locked || !or_go_on) return std::move(taken).error();
  busy = taken.error().message;
  return std::optional<FileLock>();
}

Result<Session> Session::open(const Config& config, const Common& common, Access access) {
  for (const auto& name : common.ecus)
    if (!config.find_ecu(name)) {
      std::string known;
      for (const auto& e : config.ecus) known += (known.empty() ? "" : ", ") + e.name;
      return make_error(Errc::usage, fmt::format("unknown ECU '{}' (the config has: {})", name, known));
    }
  std::optional<FileLock> lock;
  bool writer = common.lock_held && common.writer_busy.empty();
  std::string busy = common.writer_busy;
  if (common.dry_run && access == Access::write) access = Access::look;
  if (!common.lock_held && access != Access::read) {
    ECUUP_ASSIGN(lock, lock_unless_busy(config, common, access == Access::look, busy));
    writer = lock.has_value();
    if (writer && common.live && !common.dry_run && access == Access::write) common.live->start(config.state_dir);
  }
  Session s(config, common, std::move(lock));
  s.m_writer = writer;
  s.m_busy = std::move(busy);
  if (!common.plan) {
    ECUUP_ASSIGN(s.m_manifest, Manifest::load(config.manifest_path()));
  }
  const Manifest& m = s.manifest();
  if (!m.vehicle.empty() && m.vehicle != config.vehicle_id)
    return make_error(Errc::config, fmt::format("the manifest in {} belongs to vehicle '{}', the config names '{}'",
                                                config.state_dir.string(), m.vehicle, config.vehicle_id));
  for (const auto& ecu : config.ecus)
    if (common.ecus.empty() || std::find(common.ecus.begin(), common.ecus.end(), ecu.name) != common.ecus.end())
      s.m_selected.push_back(&ecu);
  return s;
}

std::optional<std::string> Session::busy_note() const {
  if (m_busy.empty()) return std::nullopt;
  return fmt::format("{}; meanwhile this dry run plans from the last committed manifest and asks no ECU", m_busy);
}

Result<void> Session::save() {
  if (m_common->dry_run || !m_writer) return success();
  // What another vehicle answered must not reach this one's manifest (exit 9: nothing touched).
  if (vehicle_refused(*m_config)) return success();
  m_manifest.vehicle = m_config->vehicle_id;
  m_manifest.updated_at = now_iso8601();
  return m_manifest.save(m_config->manifest_path());  // a plan is never saved: plans are dry runs
}

Result<void> Session::save_after(const Error& cause) {
  auto saved = save();
  if (saved) return saved;
  return Error{cause.code, fmt::format("{}; and the manifest could not record it: {}", cause.message, saved.error().message)};
}

Result<StepReport> Session::save_and_finish(StepReport rep) {
  const auto failed = std::find_if(rep.ecus.begin(), rep.ecus.end(), [](const EcuOutcome& e) { return e.error.has_value(); });
  ECUUP_TRY(failed == rep.ecus.end() ? save() : save_after(*failed->error));
  return finish(std::move(rep));
}

Result<std::unique_ptr<EcuDriver>> Session::driver(const EcuConfig& ecu) const {
  if (!m_common->trace_file.empty() && m_common->progress) {
    // Trace remarks ("DoIP needs a .pcapng trace") reach the user as progress notes.
    Progress* progress = m_common->progress;
    set_trace_notice_handler([progress](const std::string& message) { progress->note(message); });
  }
  DriverContext ctx{m_config->base_dir, m_common->trace_file, m_common->verbosity};
  ECUUP_TRY(confirm_vehicle(*m_config, ctx));
  ECUUP_ASSIGN(auto made, make_driver(ecu, ctx));
  return timed_driver(std::move(made));
}

Result<Repository*> Session::repository() {
  if (!m_repository) {
    ECUUP_ASSIGN(m_repository, make_repository(*m_config));
  }
  return m_repository.get();
}

bool flash_unfinished(const EcuState& st) {
  return st.flash.state == FlashState::in_progress || st.flash.state == FlashState::failed_unrestored;
}

bool backup_behind(const EcuState& st) {
  return st.flash.state == FlashState::succeeded && st.task && st.download &&
         (!st.backup || st.backup->sha256 != st.download->image_sha256);
}

namespace {

// One server action may update several ECUs (one chunk each): it is closed only when the last of
// them is flashed and backed up; before that, each finished ECU is reported as progress.
void queue_completion(Session& s, const std::string& ecu, const std::string& action_id, const std::string& version) {
  int total = 0, done = 0;
  for (const auto& [name, st] : s.manifest().ecus()) {
    if (!st.task || st.task->action_id != action_id || st.task->download_only) continue;
    ++total;
    if (st.flash.state == FlashState::succeeded && !backup_behind(st)) ++done;
  }
  std::string detail = fmt::format("{}: installed {} and kept it as the new backup", ecu, version);
  if (done < total) {
    s.queue_feedback(ecu, action_id, FeedbackExecution::proceeding, FeedbackFinished::none, {detail}, done, total);
  } else {
    s.queue_feedback(ecu, action_id, FeedbackExecution::closed, FeedbackFinished::success, {detail}, done, total);
  }
}

}  // namespace

Result<void> Session::keep_backup(const EcuConfig& ecu, EcuState& st, BackupRecord rec) {
  backups().rotate(st, std::move(rec), config().backup_keep);
  ECUUP_TRY(save());
  backups().prune(ecu.name, st);
  return success();
}

Result<EcuOutcome> Session::keep_flashed(const EcuConfig& ecu, EcuState& st) {
  auto rec = [&] {
    WorkTimer copying;
    return backups().add(ecu.name, state_path(st.download->image), st.task->target_version, "flash");
  }();
  if (!rec) return EcuOutcome{ecu.name, "error", "", std::move(rec).error().context("backup " + ecu.name)};
  if (rec->sha256 != st.download->image_sha256)
    return EcuOutcome{ecu.name, "error", "", make_error(Errc::verify, fmt::format(
        "backup {}: the image changed since it was flashed (sha256 {})", ecu.name, rec->sha256))};
  std::string version = rec->version;
  // The backup's version is now the ECU's recorded version.
  st.installed = InstalledState{version, now_iso8601(), st.installed ? st.installed->extra : std::map<std::string, std::string>{}};
  event(ecu.name, "backup", fmt::format("new backup {}", version));
  ECUUP_TRY(keep_backup(ecu, st, std::move(*rec)));
  queue_completion(*this, ecu.name, st.task->action_id, version);
  return EcuOutcome{ecu.name, "kept", version, std::nullopt};
}

std::vector<EcuOutcome> Session::settle() {
  std::vector<EcuOutcome> out;
  if (m_common->dry_run) return out;
  for (const EcuConfig* ecu : m_selected) {
    const EcuState* found = manifest().find(ecu->name);
    if (!found || !backup_behind(*found)) continue;
    EcuState* st = &manifest().ecu(ecu->name);
    progress().note(fmt::format("{}: {} was flashed but not yet kept as its backup; keeping it now", ecu->name,
                                st->task->target_version));
    auto kept = keep_flashed(*ecu, *st);
    if (kept) out.push_back(std::move(*kept));
    else out.push_back(EcuOutcome{ecu->name, "error", "", std::move(kept).error()});
  }
  return out;
}

void Session::event(const std::string& ecu, const std::string& step, const std::string& message) {
  manifest().add_event(ecu, step, message);
  progress().note(ecu.empty() ? message : ecu + ": " + message);
}

void Session::queue_feedback(const std::string& ecu, const std::string& action_id, FeedbackExecution execution,
                             FeedbackFinished finished, std::vector<std::string> details, int cnt, int of,
                             bool for_cancel) {
  if (action_id.empty() || m_common->dry_run) return;
  manifest().feedback_queue.push_back(QueuedFeedback{action_id, ecu, feedback_execution_name(execution),
                                                     feedback_finished_name(finished), cnt, of, std::move(details),
                                                     for_cancel, now_iso8601()});
}

std::vector<std::string> Session::deliver_feedback() {
  std::vector<std::string> notes;
  auto& queue = manifest().feedback_queue;
  if (queue.empty() || m_common->dry_run) return notes;
  auto repo = repository();
  if (!repo) {
    notes.push_back(fmt::format("{} feedback message(s) kept for later: {}", queue.size(), repo.error().message));
    return notes;
  }
  std::size_t sent = 0;
  while (!queue.empty()) {
    const QueuedFeedback& q = queue.front();
    Feedback fb;
    fb.action_id = q.action_id;
    fb.execution = parse_execution(q.execution).value_or(FeedbackExecution::proceeding);
    fb.finished = parse_finished(q.finished);
    fb.progress_cnt = q.progress_cnt;
    fb.progress_of = q.progress_of;
    fb.details = q.details;
    fb.for_cancel = q.for_cancel;
    auto r = (*repo)->send_feedback(fb);
    if (!r) {
      if (r.error().code == Errc::network || r.error().code == Errc::auth || r.error().code == Errc::io) {
        notes.push_back(fmt::format("{} feedback message(s) kept for later: {}", queue.size(), r.error().message));
        break;
      }
      // The server refused this message for good (4xx): retrying cannot help.
      notes.push_back(fmt::format("feedback for action {} dropped: {}", q.action_id, r.error().message));
    } else if ((*repo)->last_feedback_outcome() == FeedbackOutcome::action_closed) {
      // DDI 410: the server closed the action already; the message is final, not lost.
      notes.push_back(fmt::format("action {} was already closed on the server; its feedback is final", q.action_id));
      if (!q.ecu.empty()) manifest().add_event(q.ecu, "feedback", fmt::format("action {} closed by the server", q.action_id));
    } else {
      ++sent;
    }
    queue.erase(queue.begin());
  }
  if (sent) notes.push_back(fmt::format("delivered {} feedback message(s) to {}", sent, (*repo)->describe()));
  return notes;
}

}  // namespace ecuup::api
