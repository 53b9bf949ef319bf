#include <fmt/format.h>

#include "api/session.hpp"
#include "api/trust_gate.hpp"

namespace ecuup::api {

namespace {

// Work remains when a task is not yet flashed and kept as the backup, and whenever a flash of ours
// is unfinished, with or without a task.
bool pending(const EcuState& st) {
  if (flash_unfinished(st)) return true;
  if (!st.task || st.task->download_only) return false;
  if (st.flash.state != FlashState::succeeded) return true;
  return !st.backup || !st.download || st.backup->sha256 != st.download->image_sha256;
}

}  // namespace

Result<StatusReport> status(const Config& config, const Common& common, const StatusOptions& options) {
  // Status never waits for a running step: without the lock it shows the last committed manifest.
  ECUUP_ASSIGN(Session s, Session::open(config, common, options.sync ? Access::look : Access::read));
  StatusReport out;
  bool unsaved = false;
  if (!s.busy().empty())
    out.notes.push_back(fmt::format("{}; meanwhile status shows the last committed state and delivers nothing", s.busy()));
  if (options.sync && s.busy().empty()) {
    for (auto& kept : s.settle())
      out.notes.push_back(kept.error ? kept.error->message : fmt::format("{}: kept {} as the new backup", kept.ecu, kept.detail));
    for (auto& n : s.deliver_feedback()) out.notes.push_back(std::move(n));
    // A full disk must not blind the person who comes to look: the table still shows, and the exit
    // status says that something failed.
    if (auto saved = s.save(); !saved) {
      out.notes.push_back(saved.error().message + "; what was delivered now may be delivered again");
      unsaved = true;
    }
  }
  // A keyring whose CRL ran out refuses every release of its CA: said here before a report meets it.
  if (auto trust = TrustGate::open(config); !trust) {
    out.notes.push_back(trust.error().message);
  } else {
    for (auto& n : trust->renewal_notes()) out.notes.push_back(std::move(n));
  }
  out.rows.push_back({"ECU", "INSTALLED", "TARGET", "DOWNLOAD", "FLASH", "BACKUP", "LAST ERROR"});
  nlohmann::json ecus = nlohmann::json::array();
  bool any_pending = false;
  ExitCode code = ExitCode::ok;
  for (const EcuConfig* ecu : s.selected()) {
    const EcuState* found = s.manifest().find(ecu->name);
    EcuState empty;
    const EcuState& st = found ? *found : empty;
    // What an unfinished flash left is not known until the ECU is asked: never show the old
    // version as installed then.
    const bool unfinished = flash_unfinished(st);
    std::string installed = unfinished ? "? (unfinished)" : st.installed ? st.installed->version : "-";
    std::string target = st.task ? st.task->target_version : "-";
    std::string download = !st.download ? "-" : (st.download->verified ? "verified" : "unverified");
    std::string flash = flash_state_name(st.flash.state);
    std::string backup = st.backup ? st.backup->version : "-";
    bool is_pending = pending(st);
    any_pending = any_pending || is_pending;
    if (st.flash.state == FlashState::failed_unrestored) code = worse(code, ExitCode::needs_attention);
    if (st.flash.state == FlashState::failed_restored && is_pending) code = worse(code, ExitCode::restored);
    out.rows.push_back({ecu->name, installed, target, download, flash, backup, st.flash.last_error});
    nlohmann::json j = {{"name", ecu->name},
                        {"part", ecu->part},
                        {"driver", ecu->driver},
                        {"installed", st.installed && !unfinished ? nlohmann::json(st.installed->version) : nlohmann::json()},
                        {"unfinished", unfinished},
                        {"installed_read_at", st.installed ? nlohmann::json(st.installed->read_at) : nlohmann::json()},
                        {"target", st.task ? nlohmann::json(st.task->target_version) : nlohmann::json()},
                        {"action_id", st.task ? nlohmann::json(st.task->action_id) : nlohmann::json()},
                        {"downloaded", st.download.has_value()},
                        {"verified", st.download && st.download->verified},
                        {"flash_state", flash},
                        {"flash_attempts", st.flash.attempts},
                        {"backup", st.backup ? nlohmann::json(st.backup->version) : nlohmann::json()},
                        {"backups_kept", (st.backup ? 1 : 0) + st.older_backups.size()},
                        {"last_error", st.flash.last_error.empty() ? nlohmann::json() : nlohmann::json(st.flash.last_error)},
                        {"pending", is_pending}};
    ecus.push_back(std::move(j));
  }
  if (code == ExitCode::ok && any_pending) code = ExitCode::pending;
  if (unsaved) code = worse(code, ExitCode::failure);
  out.exit_code = code;
  out.json = {{"schema", 1},
              {"vehicle", config.vehicle_id},
              {"manifest", config.manifest_path().string()},
              {"updated_at", s.manifest().updated_at},
              {"ecus", ecus},
              {"pending", any_pending},
              {"feedback_queued", s.manifest().feedback_queue.size()},
              {"notes", out.notes},
              {"exit_code", static_cast<int>(code)}};
  return out;
}

}  // namespace ecuup::api
