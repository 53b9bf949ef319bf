#include <fmt/format.h>

#include "api/session.hpp"
#include "api/work_clock.hpp"
#include "util/fs.hpp"
#include "util/sw_image.hpp"
#include "util/time.hpp"

namespace ecuup::api {

namespace fs = std::filesystem;

namespace {

std::string describe(const BackupRecord& b) {
  return fmt::format("{} sha256:{} {} bytes ({}, {})", b.version, b.sha256.substr(0, 12), b.size,
                     b.source.empty() ? "?" : b.source, b.at);
}

Result<StepReport> commit_new_backups(Session& s) {
  StepReport rep{"backup", s.common().dry_run, {}, {}};
  for (const EcuConfig* ecu : s.selected()) {
    EcuState& st = s.manifest().ecu(ecu->name);
    if (st.flash.state != FlashState::succeeded || !st.task || !st.download) {
      rep.ecus.push_back({ecu->name, "nothing-new", st.backup ? "backup " + st.backup->version : "no backup", std::nullopt});
      continue;
    }
    if (!backup_behind(st)) {
      rep.ecus.push_back({ecu->name, "current", "backup " + st.backup->version, std::nullopt});
      continue;
    }
    if (s.common().dry_run) {
      rep.ecus.push_back({ecu->name, "would-keep", st.task->target_version, std::nullopt});
      continue;
    }
    ECUUP_ASSIGN(EcuOutcome kept, s.keep_flashed(*ecu, st));
    rep.ecus.push_back(std::move(kept));
  }
  rep.notes = s.deliver_feedback();
  return s.save_and_finish(std::move(rep));
}

// Whether a backup record of `ecu` already points to the file with this content.
bool st_has(Session& s, const std::string& ecu, const std::string& sha256) {
  const EcuState* st = s.manifest().find(ecu);
  if (!st) return false;
  if (st->backup && st->backup->sha256 == sha256) return true;
  for (const auto& b : st->older_backups)
    if (b.sha256 == sha256) return true;
  return false;
}

Result<StepReport> import_backup(Session& s, const BackupOptions& o) {
  StepReport rep{"backup", s.common().dry_run, {}, {}};
  const EcuConfig* ecu = s.config().find_ecu(o.import_ecu);
  if (!ecu) return make_error(Errc::usage, fmt::format("--import: unknown ECU '{}'", o.import_ecu));
  if (o.import_version.empty()) return make_error(Errc::usage, "--import needs --version V (the version the file holds)");
  if (!fs::is_regular_file(o.import_file))
    return make_error(Errc::usage, fmt::format("--import: {} is not a readable file", o.import_file.string()));
  // A file that carries an ecuup image header must agree with the version given.
  if (auto head = read_binary_file(o.import_file); head && head->size() >= k_sw_image_header_size) {
    if (auto info = parse_sw_image_header(*head)) {
      ECUUP_TRY(verify_sw_image_file(o.import_file));
      if (info->version != o.import_version)
        return make_error(Errc::verify, fmt::format("--import: {} holds version {}, not {}", o.import_file.string(),
                                                    info->version, o.import_version));
    }
  }
  // A backup is the way back to what the ECU runs: one of another version could not be flashed
  // anyway (flash refuses it), so say so now, while the user still has the right file at hand.
  if (const EcuState* known = s.manifest().find(ecu->name);
      known && known->installed && !known->installed->version.empty() && known->installed->version != o.import_version)
    return make_error(Errc::verify, fmt::format(
        "--import: {} runs {} (inventory {}), not {}: import the software it runs, or run `ecuup inventory --ecu {}` "
        "first if it has changed", ecu->name, known->installed->version, known->installed->read_at, o.import_version, ecu->name));
  if (s.common().dry_run) {
    rep.ecus.push_back({ecu->name, "would-import", o.import_version, std::nullopt});
    return s.finish(std::move(rep));
  }
  auto added = [&] {
    WorkTimer copying;
    return s.backups().add(ecu->name, o.import_file, o.import_version, "import");
  }();
  ECUUP_ASSIGN(BackupRecord rec, std::move(added));
  EcuState& st = s.manifest().ecu(ecu->name);
  s.event(ecu->name, "backup", fmt::format("imported backup {} from {}", o.import_version, o.import_file.string()));
  ECUUP_TRY(s.keep_backup(*ecu, st, std::move(rec)));
  rep.ecus.push_back({ecu->name, "imported", o.import_version, std::nullopt});
  return s.finish(std::move(rep));
}

Result<StepReport> read_backup(Session& s) {
  StepReport rep{"backup", s.common().dry_run, {}, {}};
  if (auto note = s.busy_note()) rep.notes.push_back(std::move(*note));
  for (const EcuConfig* ecu : s.selected()) {
    if (!s.busy().empty()) {
      const EcuState* known = s.manifest().find(ecu->name);
      rep.ecus.push_back({ecu->name, "would-read", known && known->installed ? known->installed->version : "?", std::nullopt});
      continue;
    }
    ECUUP_ASSIGN(auto driver, s.driver(*ecu));
    if (!driver->can_read_out()) {
      rep.ecus.push_back({ecu->name, "unsupported", "", make_error(Errc::unsupported, fmt::format(
          "{}: driver '{}' cannot read software out; use `backup --import`", ecu->name, ecu->driver))});
      continue;
    }
    auto id = driver->read_identity();
    if (!id) {
      rep.ecus.push_back({ecu->name, "unreadable", "", std::move(id).error().context("backup --read " + ecu->name)});
      continue;
    }
    if (s.common().dry_run) {
      rep.ecus.push_back({ecu->name, "would-read", id->version, std::nullopt});
      continue;
    }
    fs::path tmp = s.state_path("backups") / fmt::format(".readout-{}", ecu->name);
    ECUUP_TRY(ensure_directory(tmp.parent_path()));
    // Its size is the driver's to know: the read-out starts only where the reserve is still free.
    if (auto room = require_free_space(tmp.parent_path(), 0, "a read-out of " + ecu->name); !room) {
      rep.ecus.push_back({ecu->name, "error", "", std::move(room).error().context("backup --read " + ecu->name)});
      continue;
    }
    auto read = driver->read_out(tmp, s.progress());
    if (!read) {
      std::error_code gone;
      fs::remove(tmp, gone);
      rep.ecus.push_back({ecu->name, "error", "", std::move(read).error().context("backup --read " + ecu->name)});
      continue;
    }
    auto rec = [&] {
      WorkTimer copying;
      return s.backups().add(ecu->name, tmp, id->version, "read", BackupSource::move);
    }();
    std::error_code gone;
    fs::remove(tmp, gone);  // left only when the move failed
    if (rec) rec->layout = driver->read_out_layout();
    if (!rec) {
      rep.ecus.push_back({ecu->name, "error", "", std::move(rec).error()});
      continue;
    }
    // Only a whole image is a way back: one whose header promises more than the regions held, or
    // names another version, is not kept.
    if (auto whole = s.backups().verify(*rec); !whole) {
      const bool referenced = (st_has(s, ecu->name, rec->sha256));
      if (!referenced) fs::remove(s.backups().absolute(*rec));
      rep.ecus.push_back({ecu->name, "incomplete", "", std::move(whole).error().context("backup --read " + ecu->name)});
      continue;
    }
    EcuState& st = s.manifest().ecu(ecu->name);
    s.event(ecu->name, "backup", fmt::format("read out backup {}", id->version));
    ECUUP_TRY(s.keep_backup(*ecu, st, std::move(*rec)));
    rep.ecus.push_back({ecu->name, "read", id->version, std::nullopt});
  }
  return s.finish(std::move(rep));
}

StepReport list_backups(Session& s) {
  StepReport rep{"backup", false, {}, {}};
  for (const EcuConfig* ecu : s.selected()) {
    const EcuState* st = s.manifest().find(ecu->name);
    if (!st || !st->backup) {
      rep.ecus.push_back({ecu->name, "none", "no backup", std::nullopt});
      continue;
    }
    auto ok = s.backups().verify(*st->backup);
    rep.ecus.push_back({ecu->name, ok ? "current" : "corrupt", describe(*st->backup), ok ? std::nullopt : std::optional<Error>(ok.error()),
                        backup_record_json(*st->backup)});
    rep.ecus.back().facts["verified"] = ok.ok();
    for (const auto& b : st->older_backups) {
      rep.ecus.push_back({ecu->name, "older", describe(b), std::nullopt, backup_record_json(b)});
      rep.ecus.back().facts["verified"] = nullptr;  // only the current backup is checked
    }
  }
  return s.finish(std::move(rep));
}

}  // namespace

Result<StepReport> backup(const Config& config, const Common& common, const BackupOptions& options) {
  // Listing only reads: it never waits for (or stops) a running step.
  ECUUP_ASSIGN(Session s, Session::open(config, common,
                                        options.mode == BackupOptions::Mode::list ? Access::read : Access::write));
  switch (options.mode) {
    case BackupOptions::Mode::commit: return commit_new_backups(s);
    case BackupOptions::Mode::import: return import_backup(s, options);
    case BackupOptions::Mode::read: return read_backup(s);
    case BackupOptions::Mode::list: return list_backups(s);
  }
  return make_error(Errc::internal, "unknown backup mode");
}

}  // namespace ecuup::api
