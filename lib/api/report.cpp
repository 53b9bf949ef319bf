#include <fmt/format.h>

#include "api/session.hpp"
#include "api/work_clock.hpp"
#include "api/trust_gate.hpp"
#include "util/time.hpp"
#include "util/version.hpp"

namespace ecuup::api {

namespace {

std::uint64_t total_size(const Task& t) {
  std::uint64_t n = 0;
  for (const auto& a : t.artifacts) n += a.size;
  return n;
}

TaskState to_state(const Task& t) {
  TaskState s;
  s.action_id = t.action_id;
  s.target_version = t.target_version;
  for (const auto& a : t.artifacts) s.artifacts.push_back(ManifestArtifact{a.name, a.url, a.size, a.sha256, a.sha1});
  s.download_only = t.download_only;
  s.maintenance_window_open = t.maintenance_window_open;
  s.received_at = now_iso8601();
  return s;
}

bool same_hashes(const std::vector<ManifestArtifact>& recorded, const std::vector<ArtifactRef>& offered) {
  if (recorded.size() != offered.size()) return false;
  for (std::size_t i = 0; i < recorded.size(); ++i)
    if (recorded[i].sha256 != offered[i].sha256 || recorded[i].sha1 != offered[i].sha1) return false;
  return true;
}

bool flash_started(const EcuState& st, const std::string& action_id) {
  return st.task && st.task->action_id == action_id &&
         (st.flash.state == FlashState::in_progress || st.flash.state == FlashState::succeeded ||
          st.flash.state == FlashState::failed_unrestored);
}

// What no target may be, signed or not: a sha1-only artifact unless the config allows it.
Result<void> check_hashes(const Config& config, const std::string& ecu, const Task& task) {
  for (const auto& a : task.artifacts)
    if (a.sha256.empty() && !config.server.allow_sha1)
      return make_error(Errc::verify, fmt::format("{} {}: refused by rule 'sha256': artifact '{}' comes with a sha1 "
                                                  "only; ask the server for sha256, or set server.allow_sha1: true",
                                                  ecu, task.target_version, a.name));
  return success();
}

}  // namespace

Result<StepReport> report(const Config& config, const Common& common) {
  ECUUP_ASSIGN(TrustGate trust, TrustGate::open(config));
  ECUUP_ASSIGN(Session s, Session::open(config, common));
  StepReport rep{"report", common.dry_run, {}, {}};
  for (auto& kept : s.settle()) rep.ecus.push_back(std::move(kept));
  std::vector<ReportedEcu> reported;
  for (const EcuConfig* ecu : s.selected()) {
    const EcuState* st = s.manifest().find(ecu->name);
    // An unfinished flash of ours is reported with the version it started from: what the ECU ran
    // before, and what its backup holds. Its boot loader's answer is not a version.
    if (st && flash_unfinished(*st) && !st->flash.from_version.empty()) {
      reported.push_back(ReportedEcu{ecu->name, ecu->part, st->flash.from_version});
      continue;
    }
    if (!st || !st->installed) {
      rep.ecus.push_back({ecu->name, "unknown", "", make_error(Errc::not_found, fmt::format(
          "no installed version of {} is known: run `ecuup inventory` first", ecu->name))});
      continue;
    }
    reported.push_back(ReportedEcu{ecu->name, ecu->part, st->installed->version});
  }
  if (reported.empty()) return s.finish(std::move(rep));
  ECUUP_ASSIGN(Repository* repo, s.repository());
  // Report first: when the server (or its releases.yaml) is unusable, the manifest stays as it was.
  // A dry run asks without telling (the manifest below is then only changed in memory, or in
  // update --dry-run's plan, and never saved).
  auto answer = [&] {
    WorkTimer asking;
    return common.dry_run ? repo->preview(reported) : repo->report(reported, config.server.attributes);
  }();
  if (!answer && common.dry_run && answer.error().code == Errc::unsupported) {
    for (const auto& r : reported) rep.ecus.push_back({r.name, "would-report", r.version, std::nullopt});
    rep.notes.push_back(answer.error().message);
    return s.finish(std::move(rep));
  }
  if (!answer) return std::move(answer).error().context("report to " + repo->describe());
  rep.notes = answer->notes;
  const char* accepted = common.dry_run ? "would be accepted" : "accepted";
  const char* rejected = common.dry_run ? "would be rejected" : "rejected";

  // A rejected cancel lets the action carry on: its tasks stay although this answer lists none.
  std::string carried_on_action;
  if (answer->cancel_action_id) {
    const std::string& id = *answer->cancel_action_id;
    bool started = false;
    for (const auto& [name, st] : s.manifest().ecus()) started = started || flash_started(st, id);
    if (started) {
      s.queue_feedback("", id, FeedbackExecution::rejected, FeedbackFinished::none,
                       {"cancel rejected: flashing has already started"}, -1, -1, true);
      rep.notes.push_back(fmt::format("server asked to cancel action {}: {}, flashing already started", id, rejected));
      carried_on_action = id;
    } else {
      for (auto& [name, st] : s.manifest().ecus())
        if (st.task && st.task->action_id == id) {
          EcuState& mut = s.manifest().ecu(name);
          mut.task.reset();
          mut.download.reset();
          s.event(name, "report", fmt::format("action {} cancelled by the server", id));
        }
      s.queue_feedback("", id, FeedbackExecution::closed, FeedbackFinished::success, {"cancel accepted before flashing"},
                       -1, -1, true);
      rep.notes.push_back(fmt::format("server cancelled action {}: {}", id, accepted));
    }
  }

  for (const auto& r : reported) {
    EcuState& st = s.manifest().ecu(r.name);
    const Task* task = nullptr;
    for (const auto& t : answer->tasks)
      if (t.ecu == r.name && t.action_id != answer->cancel_action_id.value_or("")) task = &t;
    if (!task && st.task && !carried_on_action.empty() && st.task->action_id == carried_on_action) {
      rep.ecus.push_back({r.name, common.dry_run ? "would-task" : "task", fmt::format("{} -> {} (cancel rejected, the action carries on)", r.version,
                                                      st.task->target_version), std::nullopt});
      continue;
    }
    if (!task) {
      if (flash_unfinished(st)) {
        // The task stays until flash has finished or restored the ECU.
        rep.ecus.push_back({r.name, "in-progress", "a flash is unresolved: `ecuup flash` finishes or restores it",
                            std::nullopt});
        continue;
      }
      if (st.task) s.event(r.name, "report", "no task any more");
      st.task.reset();
      st.download.reset();
      rep.ecus.push_back({r.name, "up-to-date", r.version, std::nullopt});
      continue;
    }
    if (compare_versions(task->target_version, r.version) < 0 && !config.allow_downgrade) {
      s.queue_feedback(r.name, task->action_id, FeedbackExecution::closed, FeedbackFinished::failure,
                       {fmt::format("{}: downgrade {} -> {} refused by the vehicle's config", r.name, r.version,
                                    task->target_version)});
      st.task.reset();
      st.download.reset();
      rep.ecus.push_back({r.name, "refused", fmt::format("{} -> {}", r.version, task->target_version),
                          make_error(Errc::config, fmt::format("{}: downgrade from {} to {} refused (set allow_downgrade: "
                                                               "true in the config to allow it)", r.name, r.version,
                                                               task->target_version))});
      continue;
    }
    // Hostile or unsigned answers stop here: nothing of them reaches the manifest or an ECU.
    const EcuConfig& ecu_config = *config.find_ecu(r.name);
    std::optional<ReleaseStatement> statement;
    auto admitted = [&]() -> Result<void> {
      ECUUP_TRY(check_hashes(config, r.name, *task));
      ECUUP_ASSIGN(statement, trust.admit(ecu_config, st, *task));
      return success();
    }();
    if (!admitted) {
      Error e = std::move(admitted).error();
      s.queue_feedback(r.name, task->action_id, FeedbackExecution::closed, FeedbackFinished::failure, {e.message});
      s.event(r.name, "report", e.message);
      if (!flash_unfinished(st)) {
        st.task.reset();
        st.download.reset();
      }
      rep.ecus.push_back({r.name, "refused", fmt::format("{} -> {}", r.version, task->target_version), std::move(e)});
      continue;
    }
    bool same = st.task && st.task->action_id == task->action_id && st.task->target_version == task->target_version;
    // A release republished under the same version (another artifact) needs a new download.
    bool same_artifacts = st.task && same_hashes(st.task->artifacts, task->artifacts);
    if (!same || !same_artifacts) {
      if (!flash_unfinished(st)) st.flash = FlashRecord{};
      if (!st.task || st.task->target_version != task->target_version || !same_artifacts) st.download.reset();
      st.task = to_state(*task);
      s.event(r.name, "report", fmt::format("task {}: {} -> {}", task->action_id, r.version, task->target_version));
    } else {
      st.task->maintenance_window_open = task->maintenance_window_open;
    }
    if (statement && !common.dry_run) ECUUP_TRY(TrustGate::keep(s, ecu_config, *task, *statement, *st.task));
    std::string detail = fmt::format("{} -> {} ({} bytes)", r.version, task->target_version, total_size(*task));
    if (task->download_only) detail += ", download only";
    if (!task->maintenance_window_open) detail += ", maintenance window closed: will not flash now";
    rep.ecus.push_back({r.name, common.dry_run ? "would-task" : "task", detail, std::nullopt});
  }
  // After the cancel handling, so its answer reaches the server in this same report.
  for (auto& n : s.deliver_feedback()) rep.notes.push_back(std::move(n));
  for (auto& n : trust.renewal_notes()) rep.notes.push_back(std::move(n));
  return s.save_and_finish(std::move(rep));
}

}  // namespace ecuup::api
