#include "manifest/manifest.hpp"

#include <set>

#include <fmt/format.h>

#include "util/fs.hpp"
#include "util/time.hpp"

namespace ecuup {

namespace fs = std::filesystem;

const char* flash_state_name(FlashState s) {
  switch (s) {
    case FlashState::none: return "none";
    case FlashState::in_progress: return "in_progress";
    case FlashState::succeeded: return "succeeded";
    case FlashState::failed_restored: return "failed_restored";
    case FlashState::failed_unrestored: return "failed_unrestored";
  }
  return "none";
}

std::optional<FlashState> parse_flash_state(const std::string& s) {
  for (auto st : {FlashState::none, FlashState::in_progress, FlashState::succeeded, FlashState::failed_restored,
                  FlashState::failed_unrestored})
    if (s == flash_state_name(st)) return st;
  return std::nullopt;
}

namespace {

// Reading: every accessor checks the node's type and reports file:line:col.
class Reader {
 public:
  explicit Reader(fs::path file) : m_file(std::move(file)) {}

  Error error(const YAML::Node& node, const std::string& msg) const {
    auto mark = node.Mark();
    if (mark.is_null()) return make_error(Errc::config, fmt::format("{}: {}", m_file.string(), msg));
    return make_error(Errc::config, fmt::format("{}:{}:{}: {}", m_file.string(), mark.line + 1, mark.column + 1, msg));
  }

  Result<std::string> str(const YAML::Node& map, const char* key) const {
    YAML::Node n = map[key];
    if (!n || n.IsNull()) return std::string();
    if (!n.IsScalar()) return error(n, fmt::format("'{}' must be a string", key));
    return n.Scalar();
  }
  Result<std::uint64_t> u64(const YAML::Node& map, const char* key) const {
    YAML::Node n = map[key];
    if (!n) return std::uint64_t{0};
    std::uint64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<std::uint64_t>::decode(n, v))
      return error(n, fmt::format("'{}' must be a non-negative integer", key));
    return v;
  }
  Result<int> integer(const YAML::Node& map, const char* key, int fallback) const {
    YAML::Node n = map[key];
    if (!n) return fallback;
    int v = 0;
    if (!n.IsScalar() || !YAML::convert<int>::decode(n, v)) return error(n, fmt::format("'{}' must be an integer", key));
    return v;
  }
  Result<bool> boolean(const YAML::Node& map, const char* key, bool fallback) const {
    YAML::Node n = map[key];
    if (!n) return fallback;
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) return error(n, fmt::format("'{}' must be true or false", key));
    return v;
  }
  Result<YAML::Node> map(const YAML::Node& parent, const char* key) const {
    YAML::Node n = parent[key];
    if (n && !n.IsMap() && !n.IsNull()) return error(n, fmt::format("'{}' must be a mapping", key));
    return n;
  }
  Result<YAML::Node> seq(const YAML::Node& parent, const char* key) const {
    YAML::Node n = parent[key];
    if (n && !n.IsSequence() && !n.IsNull()) return error(n, fmt::format("'{}' must be a list", key));
    return n;
  }

 private:
  fs::path m_file;
};

// Keys that a save could not give back as they were read are refused with their place: yaml-cpp
// writes a key that is a mapping or a list like a plain one, which no reader takes back (kept
// among the unknown keys, it would make the manifest unreadable), and of a key given twice
// (which YAML does not allow, but yaml-cpp reads) ecuup would use one and save the other.
// `seen` stops at anchors that make the document a cycle.
Result<void> check_keys(const Reader& r, const YAML::Node& node, std::vector<YAML::Node>& seen) {
  if (!node.IsMap() && !node.IsSequence()) return success();
  for (const auto& earlier : seen)
    if (earlier.is(node)) return success();
  seen.push_back(node);
  std::set<std::string> keys;
  for (const auto& entry : node) {
    if (node.IsSequence()) {
      ECUUP_TRY(check_keys(r, entry, seen));
      continue;
    }
    if (!entry.first.IsScalar() && !entry.first.IsNull()) {
      return r.error(entry.first, "a key must be a plain value, not a mapping or a list");
    }
    // A null key reads as "" (ECU names, extra identification), so it counts as that.
    if (!keys.insert(entry.first.Scalar()).second) {
      return r.error(entry.first, fmt::format("key '{}' is given twice", entry.first.Scalar()));
    }
    ECUUP_TRY(check_keys(r, entry.second, seen));
  }
  return success();
}

Result<ManifestArtifact> read_artifact(const Reader& r, const YAML::Node& n) {
  if (!n.IsMap()) return r.error(n, "an artifact must be a mapping");
  ManifestArtifact a;
  ECUUP_ASSIGN(a.name, r.str(n, "name"));
  ECUUP_ASSIGN(a.url, r.str(n, "url"));
  ECUUP_ASSIGN(a.size, r.u64(n, "size"));
  ECUUP_ASSIGN(a.sha256, r.str(n, "sha256"));
  ECUUP_ASSIGN(a.sha1, r.str(n, "sha1"));
  return a;
}

Result<BackupRecord> read_backup(const Reader& r, const YAML::Node& n) {
  if (!n.IsMap()) return r.error(n, "a backup must be a mapping");
  BackupRecord b;
  ECUUP_ASSIGN(b.version, r.str(n, "version"));
  ECUUP_ASSIGN(b.sha256, r.str(n, "sha256"));
  ECUUP_ASSIGN(b.path, r.str(n, "path"));
  ECUUP_ASSIGN(b.size, r.u64(n, "size"));
  ECUUP_ASSIGN(b.source, r.str(n, "source"));
  ECUUP_ASSIGN(b.at, r.str(n, "at"));
  ECUUP_ASSIGN(b.layout, r.str(n, "layout"));
  if (b.sha256.empty() || b.path.empty()) return r.error(n, "a backup needs 'sha256' and 'path'");
  return b;
}

Result<EcuState> read_ecu(const Reader& r, const YAML::Node& n) {
  EcuState e;
  e.raw = n;
  ECUUP_ASSIGN(YAML::Node installed, r.map(n, "installed"));
  if (installed && installed.IsMap()) {
    InstalledState s;
    ECUUP_ASSIGN(s.version, r.str(installed, "version"));
    ECUUP_ASSIGN(s.read_at, r.str(installed, "read_at"));
    ECUUP_ASSIGN(YAML::Node extra, r.map(installed, "extra"));
    if (extra && extra.IsMap())
      for (const auto& kv : extra) s.extra[kv.first.Scalar()] = kv.second.IsScalar() ? kv.second.Scalar() : "";
    e.installed = std::move(s);
  }
  ECUUP_ASSIGN(YAML::Node task, r.map(n, "task"));
  if (task && task.IsMap()) {
    TaskState t;
    ECUUP_ASSIGN(t.action_id, r.str(task, "action_id"));
    ECUUP_ASSIGN(t.target_version, r.str(task, "target_version"));
    ECUUP_ASSIGN(t.download_only, r.boolean(task, "download_only", false));
    ECUUP_ASSIGN(t.maintenance_window_open, r.boolean(task, "maintenance_window_open", true));
    ECUUP_ASSIGN(t.received_at, r.str(task, "received_at"));
    ECUUP_ASSIGN(t.statement, r.str(task, "statement"));
    if (task["security_version"]) {
      ECUUP_ASSIGN(std::uint64_t sv, r.u64(task, "security_version"));
      t.security_version = sv;
    }
    ECUUP_ASSIGN(YAML::Node arts, r.seq(task, "artifacts"));
    if (arts && arts.IsSequence())
      for (const auto& a : arts) {
        ECUUP_ASSIGN(ManifestArtifact art, read_artifact(r, a));
        t.artifacts.push_back(std::move(art));
      }
    if (t.target_version.empty()) return r.error(task, "a task needs 'target_version'");
    e.task = std::move(t);
  }
  ECUUP_ASSIGN(YAML::Node dl, r.map(n, "download"));
  if (dl && dl.IsMap()) {
    DownloadState d;
    ECUUP_ASSIGN(d.artifact, r.str(dl, "artifact"));
    ECUUP_ASSIGN(d.sha256, r.str(dl, "sha256"));
    ECUUP_ASSIGN(d.size, r.u64(dl, "size"));
    ECUUP_ASSIGN(d.verified, r.boolean(dl, "verified", false));
    ECUUP_ASSIGN(d.image, r.str(dl, "image"));
    ECUUP_ASSIGN(d.image_sha256, r.str(dl, "image_sha256"));
    ECUUP_ASSIGN(d.image_version, r.str(dl, "image_version"));
    ECUUP_ASSIGN(d.at, r.str(dl, "at"));
    e.download = std::move(d);
  }
  ECUUP_ASSIGN(YAML::Node fl, r.map(n, "flash"));
  if (fl && fl.IsMap()) {
    ECUUP_ASSIGN(std::string state, r.str(fl, "state"));
    auto st = parse_flash_state(state.empty() ? "none" : state);
    if (!st) return r.error(fl["state"], fmt::format("unknown flash state '{}'", state));
    e.flash.state = *st;
    ECUUP_ASSIGN(e.flash.attempts, r.integer(fl, "attempts", 0));
    ECUUP_ASSIGN(e.flash.from_version, r.str(fl, "from_version"));
    ECUUP_ASSIGN(e.flash.to_version, r.str(fl, "to_version"));
    ECUUP_ASSIGN(e.flash.image_sha256, r.str(fl, "image_sha256"));
    ECUUP_ASSIGN(e.flash.started_at, r.str(fl, "started_at"));
    ECUUP_ASSIGN(e.flash.finished_at, r.str(fl, "finished_at"));
    ECUUP_ASSIGN(e.flash.last_error, r.str(fl, "last_error"));
  }
  ECUUP_ASSIGN(YAML::Node bk, r.map(n, "backup"));
  if (bk && bk.IsMap()) {
    ECUUP_ASSIGN(BackupRecord b, read_backup(r, bk));
    e.backup = std::move(b);
  }
  if (n["security_version"]) {
    ECUUP_ASSIGN(std::uint64_t sv, r.u64(n, "security_version"));
    e.security_version = sv;
  }
  ECUUP_ASSIGN(YAML::Node older, r.seq(n, "older_backups"));
  if (older && older.IsSequence())
    for (const auto& b : older) {
      ECUUP_ASSIGN(BackupRecord rec, read_backup(r, b));
      e.older_backups.push_back(std::move(rec));
    }
  return e;
}

// Writing: known keys are set (or removed when empty) on a copy of what was read.
void set_or_remove(YAML::Node& map, const char* key, const std::string& value) {
  if (value.empty()) {
    map.remove(key);
  } else {
    map[key] = value;
  }
}

YAML::Node artifact_node(const ManifestArtifact& a) {
  YAML::Node n(YAML::NodeType::Map);
  set_or_remove(n, "name", a.name);
  set_or_remove(n, "url", a.url);
  n["size"] = a.size;
  set_or_remove(n, "sha256", a.sha256);
  set_or_remove(n, "sha1", a.sha1);
  return n;
}

YAML::Node backup_node(const BackupRecord& b) {
  YAML::Node n(YAML::NodeType::Map);
  n["version"] = b.version;
  n["sha256"] = b.sha256;
  n["path"] = b.path;
  n["size"] = b.size;
  set_or_remove(n, "source", b.source);
  set_or_remove(n, "at", b.at);
  set_or_remove(n, "layout", b.layout);
  return n;
}

YAML::Node ecu_node(const EcuState& e) {
  YAML::Node n = e.raw && e.raw.IsMap() ? YAML::Clone(e.raw) : YAML::Node(YAML::NodeType::Map);
  if (e.installed) {
    YAML::Node i = n["installed"] && n["installed"].IsMap() ? n["installed"] : YAML::Node(YAML::NodeType::Map);
    i["version"] = e.installed->version;
    set_or_remove(i, "read_at", e.installed->read_at);
    if (e.installed->extra.empty()) {
      i.remove("extra");
    } else {
      YAML::Node x(YAML::NodeType::Map);
      for (const auto& [k, v] : e.installed->extra) x[k] = v;
      i["extra"] = x;
    }
    n["installed"] = i;
  } else {
    n.remove("installed");
  }
  if (e.task) {
    YAML::Node t = n["task"] && n["task"].IsMap() ? n["task"] : YAML::Node(YAML::NodeType::Map);
    set_or_remove(t, "action_id", e.task->action_id);
    t["target_version"] = e.task->target_version;
    YAML::Node arts(YAML::NodeType::Sequence);
    for (const auto& a : e.task->artifacts) arts.push_back(artifact_node(a));
    t["artifacts"] = arts;
    t["download_only"] = e.task->download_only;
    t["maintenance_window_open"] = e.task->maintenance_window_open;
    set_or_remove(t, "received_at", e.task->received_at);
    set_or_remove(t, "statement", e.task->statement);
    if (e.task->security_version) {
      t["security_version"] = *e.task->security_version;
    } else {
      t.remove("security_version");
    }
    n["task"] = t;
  } else {
    n.remove("task");
  }
  if (e.download) {
    YAML::Node d = n["download"] && n["download"].IsMap() ? n["download"] : YAML::Node(YAML::NodeType::Map);
    set_or_remove(d, "artifact", e.download->artifact);
    set_or_remove(d, "sha256", e.download->sha256);
    d["size"] = e.download->size;
    d["verified"] = e.download->verified;
    set_or_remove(d, "image", e.download->image);
    set_or_remove(d, "image_sha256", e.download->image_sha256);
    set_or_remove(d, "image_version", e.download->image_version);
    set_or_remove(d, "at", e.download->at);
    n["download"] = d;
  } else {
    n.remove("download");
  }
  {
    YAML::Node f = n["flash"] && n["flash"].IsMap() ? n["flash"] : YAML::Node(YAML::NodeType::Map);
    f["state"] = flash_state_name(e.flash.state);
    f["attempts"] = e.flash.attempts;
    set_or_remove(f, "from_version", e.flash.from_version);
    set_or_remove(f, "to_version", e.flash.to_version);
    set_or_remove(f, "image_sha256", e.flash.image_sha256);
    set_or_remove(f, "started_at", e.flash.started_at);
    set_or_remove(f, "finished_at", e.flash.finished_at);
    set_or_remove(f, "last_error", e.flash.last_error);
    n["flash"] = f;
  }
  if (e.backup) {
    n["backup"] = backup_node(*e.backup);
  } else {
    n.remove("backup");
  }
  if (e.security_version) {
    n["security_version"] = *e.security_version;
  } else {
    n.remove("security_version");
  }
  if (e.older_backups.empty()) {
    n.remove("older_backups");
  } else {
    YAML::Node older(YAML::NodeType::Sequence);
    for (const auto& b : e.older_backups) older.push_back(backup_node(b));
    n["older_backups"] = older;
  }
  return n;
}

}  // namespace

Result<Manifest> Manifest::parse(const std::string& text, const fs::path& path) {
  Reader r(path);
  Manifest m;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return make_error(Errc::config, fmt::format("{}:{}:{}: {}", path.string(), e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (!root || root.IsNull()) return m;
  if (!root.IsMap()) return r.error(root, "the manifest must be a mapping");
  std::vector<YAML::Node> seen;
  ECUUP_TRY(check_keys(r, root, seen));
  m.m_raw = root;
  ECUUP_ASSIGN(int schema, r.integer(root, "schema", k_manifest_schema));
  if (schema > k_manifest_schema)
    return r.error(root["schema"], fmt::format("manifest schema {} was written by a newer ecuup (this one reads up to {})",
                                               schema, k_manifest_schema));
  ECUUP_ASSIGN(m.vehicle, r.str(root, "vehicle"));
  ECUUP_ASSIGN(m.updated_at, r.str(root, "updated_at"));
  ECUUP_ASSIGN(YAML::Node ecus, r.map(root, "ecus"));
  if (ecus && ecus.IsMap())
    for (const auto& kv : ecus) {
      if (!kv.second.IsMap()) return r.error(kv.second, fmt::format("ECU '{}' must be a mapping", kv.first.Scalar()));
      ECUUP_ASSIGN(EcuState e, read_ecu(r, kv.second));
      m.m_ecus.emplace_back(kv.first.Scalar(), std::move(e));
    }
  ECUUP_ASSIGN(YAML::Node queue, r.seq(root, "feedback_queue"));
  if (queue && queue.IsSequence())
    for (const auto& q : queue) {
      if (!q.IsMap()) return r.error(q, "a queued feedback must be a mapping");
      QueuedFeedback f;
      ECUUP_ASSIGN(f.action_id, r.str(q, "action_id"));
      ECUUP_ASSIGN(f.ecu, r.str(q, "ecu"));
      ECUUP_ASSIGN(f.execution, r.str(q, "execution"));
      ECUUP_ASSIGN(f.finished, r.str(q, "finished"));
      ECUUP_ASSIGN(f.progress_cnt, r.integer(q, "progress_cnt", -1));
      ECUUP_ASSIGN(f.progress_of, r.integer(q, "progress_of", -1));
      ECUUP_ASSIGN(f.for_cancel, r.boolean(q, "for_cancel", false));
      ECUUP_ASSIGN(f.queued_at, r.str(q, "queued_at"));
      ECUUP_ASSIGN(YAML::Node details, r.seq(q, "details"));
      if (details && details.IsSequence())
        for (const auto& d : details) f.details.push_back(d.IsScalar() ? d.Scalar() : "");
      m.feedback_queue.push_back(std::move(f));
    }
  ECUUP_ASSIGN(YAML::Node events, r.seq(root, "events"));
  if (events && events.IsSequence())
    for (const auto& ev : events) {
      if (!ev.IsMap()) return r.error(ev, "an event must be a mapping");
      ManifestEvent e;
      ECUUP_ASSIGN(e.at, r.str(ev, "at"));
      ECUUP_ASSIGN(e.ecu, r.str(ev, "ecu"));
      ECUUP_ASSIGN(e.step, r.str(ev, "step"));
      ECUUP_ASSIGN(e.message, r.str(ev, "message"));
      m.events.push_back(std::move(e));
    }
  return m;
}

Result<Manifest> Manifest::load(const fs::path& path) {
  auto text = read_text_file(path);
  if (!text) {
    if (text.error().code == Errc::not_found) return Manifest{};
    return std::move(text).error();
  }
  return parse(*text, path);
}

std::string Manifest::to_yaml() const {
  YAML::Node root = m_raw && m_raw.IsMap() ? YAML::Clone(m_raw) : YAML::Node(YAML::NodeType::Map);
  root["schema"] = k_manifest_schema;
  set_or_remove(root, "vehicle", vehicle);
  set_or_remove(root, "updated_at", updated_at);
  YAML::Node ecus(YAML::NodeType::Map);
  for (const auto& [name, state] : m_ecus) ecus[name] = ecu_node(state);
  root["ecus"] = ecus;
  if (feedback_queue.empty()) {
    root.remove("feedback_queue");
  } else {
    YAML::Node q(YAML::NodeType::Sequence);
    for (const auto& f : feedback_queue) {
      YAML::Node n(YAML::NodeType::Map);
      n["action_id"] = f.action_id;
      set_or_remove(n, "ecu", f.ecu);
      n["execution"] = f.execution;
      n["finished"] = f.finished;
      if (f.progress_cnt >= 0) {
        n["progress_cnt"] = f.progress_cnt;
        n["progress_of"] = f.progress_of;
      }
      if (!f.details.empty()) {
        YAML::Node d(YAML::NodeType::Sequence);
        for (const auto& s : f.details) d.push_back(s);
        n["details"] = d;
      }
      if (f.for_cancel) n["for_cancel"] = true;
      set_or_remove(n, "queued_at", f.queued_at);
      q.push_back(n);
    }
    root["feedback_queue"] = q;
  }
  YAML::Node ev(YAML::NodeType::Sequence);
  for (const auto& e : events) {
    YAML::Node n(YAML::NodeType::Map);
    n["at"] = e.at;
    set_or_remove(n, "ecu", e.ecu);
    n["step"] = e.step;
    n["message"] = e.message;
    ev.push_back(n);
  }
  root["events"] = ev;
  YAML::Emitter out;
  out << root;
  return std::string("# ecuup manifest: written by ecuup, see ecuup-manifest(5). Do not edit while ecuup runs.\n") +
         out.c_str() + "\n";
}

Result<void> Manifest::save(const fs::path& path) const {
  // Whatever a server answered, nothing is written that ecuup could not read back: one bad answer
  // must never stop every later command.
  std::string text = to_yaml();
  if (auto back = parse(text, path); !back)
    return make_error(Errc::internal, "refusing to save a manifest that could not be read back: " + back.error().message);
  return write_file_atomic(path, text).with_context("cannot save the manifest");
}

EcuState& Manifest::ecu(const std::string& name) {
  for (auto& [n, s] : m_ecus)
    if (n == name) return s;
  m_ecus.emplace_back(name, EcuState{});
  return m_ecus.back().second;
}

const EcuState* Manifest::find(const std::string& name) const {
  for (const auto& [n, s] : m_ecus)
    if (n == name) return &s;
  return nullptr;
}

void Manifest::add_event(const std::string& ecu_name, const std::string& step, const std::string& message) {
  events.push_back(ManifestEvent{now_iso8601(), ecu_name, step, message});
  if (events.size() > k_manifest_max_events)
    events.erase(events.begin(), events.begin() + static_cast<long>(events.size() - k_manifest_max_events));
}

}  // namespace ecuup
