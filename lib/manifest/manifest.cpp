#include "manifest/manifest.hpp"

#include <set>

#include <fmt/format.h>

#include "manifest/yaml_text.hpp"
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
// writes a key that is a mapping or a list, or longer than YAML's 1024 characters for a simple
// key, like a short plain one, which no reader takes back (kept among the unknown keys, it would
// make the manifest unreadable); and of a key given twice (which YAML does not allow, but
// yaml-cpp reads) ecuup would use one and save the other. `seen` stops at anchors that make the
// document a cycle.
constexpr std::size_t k_max_key_bytes = 255;  // written escaped, at most 4 characters a byte

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
    if (entry.first.Scalar().size() > k_max_key_bytes) {
      return r.error(entry.first, fmt::format("a key longer than {} bytes", k_max_key_bytes));
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

// The text of the entries of `map` whose keys are not `keys`, at `indent`: written back as read.
std::string unknown_text(const YAML::Node& map, int indent, std::initializer_list<std::string_view> keys);

YAML::Node section(const YAML::Node& raw, const char* key);

Result<EcuState> read_ecu(const Reader& r, const YAML::Node& n) {
  EcuState e;
  e.kept.ecu = unknown_text(n, 4, {"installed", "task", "download", "flash", "backup", "security_version", "older_backups"});
  e.kept.installed = unknown_text(section(n, "installed"), 6, {"version", "read_at", "extra"});
  e.kept.task = unknown_text(section(n, "task"), 6,
                             {"action_id", "target_version", "artifacts", "download_only", "maintenance_window_open",
                              "received_at", "statement", "security_version"});
  e.kept.download = unknown_text(section(n, "download"), 6,
                                 {"artifact", "sha256", "size", "verified", "image", "image_sha256", "image_version", "at"});
  e.kept.flash = unknown_text(section(n, "flash"), 6,
                              {"state", "attempts", "from_version", "to_version", "image_sha256", "started_at",
                               "finished_at", "last_error"});
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

// Writing: known keys in a fixed order, then the keys ecuup does not know, as they were read.
// Text is appended directly (YamlText), never through a tree: a save costs what its text costs.

bool known(std::initializer_list<std::string_view> keys, const std::string& key) {
  for (auto k : keys)
    if (k == key) return true;
  return false;
}

std::string unknown_text(const YAML::Node& map, int indent, std::initializer_list<std::string_view> keys) {
  std::string out;
  if (!map || !map.IsMap()) return out;
  YamlText y(out);
  for (const auto& kv : map) {
    const std::string& key = kv.first.Scalar();
    if (!known(keys, key)) y.node(indent, key, kv.second);
  }
  return out;
}

YAML::Node section(const YAML::Node& raw, const char* key) {
  if (!raw || !raw.IsMap()) return {};
  YAML::Node n = raw[key];
  return n && n.IsMap() ? n : YAML::Node();
}

void write_artifact(YamlText& y, int indent, const ManifestArtifact& a) {
  y.item();
  y.str_if(indent, "name", a.name);
  y.str_if(indent, "url", a.url);
  y.num(indent, "size", a.size);
  y.str_if(indent, "sha256", a.sha256);
  y.str_if(indent, "sha1", a.sha1);
}

void write_backup(YamlText& y, int indent, const BackupRecord& b) {
  y.str(indent, "version", b.version);
  y.str(indent, "sha256", b.sha256);
  y.str(indent, "path", b.path);
  y.num(indent, "size", b.size);
  y.str_if(indent, "source", b.source);
  y.str_if(indent, "at", b.at);
  y.str_if(indent, "layout", b.layout);
}

// One ECU's entry of `ecus:`: "  NAME:" and its keys at 4 spaces.
void write_ecu(std::string& out, const std::string& name, const EcuState& e) {
  YamlText y(out);
  y.open(2, name);  // never empty: `flash` is always written
  if (e.installed) {
    y.open(4, "installed");
    y.str(6, "version", e.installed->version);
    y.str_if(6, "read_at", e.installed->read_at);
    if (!e.installed->extra.empty()) {
      y.open(6, "extra");
      for (const auto& [k, v] : e.installed->extra) y.str(8, k, v);
    }
    out += e.kept.installed;
  }
  if (e.task) {
    y.open(4, "task");
    y.str_if(6, "action_id", e.task->action_id);
    y.str(6, "target_version", e.task->target_version);
    if (e.task->artifacts.empty()) {
      y.empty_list(6, "artifacts");
    } else {
      y.open(6, "artifacts");
      for (const auto& a : e.task->artifacts) write_artifact(y, 10, a);
    }
    y.boolean(6, "download_only", e.task->download_only);
    y.boolean(6, "maintenance_window_open", e.task->maintenance_window_open);
    y.str_if(6, "received_at", e.task->received_at);
    y.str_if(6, "statement", e.task->statement);
    if (e.task->security_version) y.num(6, "security_version", *e.task->security_version);
    out += e.kept.task;
  }
  if (e.download) {
    y.open(4, "download");
    y.str_if(6, "artifact", e.download->artifact);
    y.str_if(6, "sha256", e.download->sha256);
    y.num(6, "size", e.download->size);
    y.boolean(6, "verified", e.download->verified);
    y.str_if(6, "image", e.download->image);
    y.str_if(6, "image_sha256", e.download->image_sha256);
    y.str_if(6, "image_version", e.download->image_version);
    y.str_if(6, "at", e.download->at);
    out += e.kept.download;
  }
  y.open(4, "flash");
  y.str(6, "state", flash_state_name(e.flash.state));
  y.num(6, "attempts", std::int64_t{e.flash.attempts});
  y.str_if(6, "from_version", e.flash.from_version);
  y.str_if(6, "to_version", e.flash.to_version);
  y.str_if(6, "image_sha256", e.flash.image_sha256);
  y.str_if(6, "started_at", e.flash.started_at);
  y.str_if(6, "finished_at", e.flash.finished_at);
  y.str_if(6, "last_error", e.flash.last_error);
  out += e.kept.flash;
  if (e.backup) {
    y.open(4, "backup");
    write_backup(y, 6, *e.backup);
  }
  if (e.security_version) y.num(4, "security_version", *e.security_version);
  if (!e.older_backups.empty()) {
    y.open(4, "older_backups");
    for (const auto& b : e.older_backups) {
      y.item();
      write_backup(y, 8, b);
    }
  }
  out += e.kept.ecu;
}

// Whether the entry write_ecu wrote reads back as the same ECU: nothing is saved that ecuup could
// not read again (one bad answer from a server must never stop every later command).
Result<void> check_ecu_text(const std::string& text, const std::string& name, const fs::path& path) {
  Reader r(path);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return make_error(Errc::config, fmt::format("ECU '{}': {}", name, e.msg));
  }
  if (!root.IsMap() || root.size() != 1 || root.begin()->first.Scalar() != name)
    return make_error(Errc::config, fmt::format("ECU '{}' is not written as one entry", name));
  const YAML::Node n = root.begin()->second;
  if (!n.IsMap()) return make_error(Errc::config, fmt::format("ECU '{}' must be a mapping", name));
  std::vector<YAML::Node> seen;
  auto keys = check_keys(r, n, seen);
  if (!keys) return make_error(Errc::config, fmt::format("ECU '{}': {}", name, keys.error().message));
  if (auto read = read_ecu(r, n); !read)
    return make_error(Errc::config, fmt::format("ECU '{}': {}", name, read.error().message));
  return success();
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
  m.m_kept = unknown_text(root, 0, {"schema", "vehicle", "updated_at", "ecus", "feedback_queue", "events"});
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
      m.m_index.emplace(kv.first.Scalar(), m.m_ecus.size());
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

namespace {

// True when `text` holds nothing but blanks, NUL bytes, comments and document markers: a file
// ecuup never writes (every save writes `schema` and `ecus`).
bool holds_no_document(std::string_view text) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t' || line.front() == '\0' || line.front() == '\r'))
      line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\0' || line.back() == '\r'))
      line.remove_suffix(1);
    if (!line.empty() && line.front() != '#' && line != "---" && line != "...") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

Result<Manifest> Manifest::load(const fs::path& path) {
  auto text = read_text_file(path);
  if (!text) {
    if (text.error().code == Errc::not_found) return Manifest{};
    return std::move(text).error();
  }
  // An empty manifest would read as a vehicle ecuup never saw: every task, unfinished flash and
  // backup record forgotten, and the next save would make that final. A missing file means that;
  // an emptied one (a file system that lost its data in a crash, a slip by hand) is refused.
  if (holds_no_document(*text))
    return make_error(Errc::config, fmt::format(
        "{} holds no manifest ({} bytes of blanks, NUL bytes or comments): ecuup never writes one like that, so it was "
        "emptied or cut short. Nothing was changed. Put back a copy of it; or, to start again from nothing, move it "
        "away: `ecuup inventory` then reads the versions again, and the backups under the state directory's backups/ "
        "must be imported again (`ecuup backup --import`)",
        path.string(), text->size()));
  ECUUP_ASSIGN(Manifest m, parse(*text, path));
  // What the file holds, as this ecuup would write it: a save that would write the same skips.
  m.m_written.resize(m.m_ecus.size());
  for (std::size_t i = 0; i < m.m_ecus.size(); ++i) write_ecu(m.m_written[i], m.m_ecus[i].first, m.m_ecus[i].second);
  std::string body;
  m.render(body, &m.m_written);
  std::string file;
  m.with_updated_at(file, body);
  if (file == *text) {
    // Every entry is text that was just read back: only entries that change need reading again.
    m.m_written_from.reserve(m.m_ecus.size());
    for (const auto& [name, state] : m.m_ecus) m.m_written_from.emplace_back(state);
  } else {
    m.m_written.clear();  // written by hand or by another ecuup: the first save reads every entry back
  }
  m.m_saved_body = std::move(body);
  return m;
}

void Manifest::render(std::string& out, const std::vector<std::string>* ecu_text) const {
  // Everything but updated_at: what decides whether a save has anything to write.
  out += "# ecuup manifest: written by ecuup, see ecuup-manifest(5). Do not edit while ecuup runs.\n";
  YamlText y(out);
  y.num(0, "schema", std::int64_t{k_manifest_schema});
  y.str_if(0, "vehicle", vehicle);
  if (m_ecus.empty()) {
    out += "ecus: {}\n";
  } else {
    y.open(0, "ecus");
    for (std::size_t i = 0; i < m_ecus.size(); ++i) {
      if (ecu_text) {
        out += (*ecu_text)[i];
      } else {
        write_ecu(out, m_ecus[i].first, m_ecus[i].second);
      }
    }
  }
  if (!feedback_queue.empty()) {
    y.open(0, "feedback_queue");
    for (const auto& f : feedback_queue) {
      y.item();
      y.str(4, "action_id", f.action_id);
      y.str_if(4, "ecu", f.ecu);
      y.str(4, "execution", f.execution);
      y.str(4, "finished", f.finished);
      if (f.progress_cnt >= 0) {
        y.num(4, "progress_cnt", std::int64_t{f.progress_cnt});
        y.num(4, "progress_of", std::int64_t{f.progress_of});
      }
      if (!f.details.empty()) {
        y.open(4, "details");
        for (const auto& d : f.details) y.list_str(6, d);
      }
      if (f.for_cancel) y.boolean(4, "for_cancel", true);
      y.str_if(4, "queued_at", f.queued_at);
    }
  }
  if (events.empty()) {
    out += "events: []\n";
  } else {
    y.open(0, "events");
    for (const auto& e : events) {
      y.item();
      y.str(4, "at", e.at);
      y.str_if(4, "ecu", e.ecu);
      y.str(4, "step", e.step);
      y.str(4, "message", e.message);
    }
  }
  out += m_kept;
}

// updated_at goes after the head that render() wrote (comment, schema, vehicle).
void Manifest::with_updated_at(std::string& out, const std::string& body) const {
  std::size_t at = updated_at.empty() ? body.size() : body.find("\necus:");
  if (at == std::string::npos) at = body.size() - 1;
  out.append(body, 0, at);
  if (!updated_at.empty()) {
    out += "\nupdated_at: ";
    append_yaml_scalar(out, updated_at);
  }
  out.append(body, at);
}

std::string Manifest::to_yaml() const {
  std::string body;
  render(body, nullptr);
  std::string out;
  with_updated_at(out, body);
  return out;
}

Result<void> Manifest::save(const fs::path& path) const {
  // An ECU whose state equals the state its entry was last written from is not written again;
  // an entry whose text changed is read back before it is saved. A save costs what changed,
  // plus copying the text of the rest.
  m_written.resize(m_ecus.size());
  m_written_from.resize(m_ecus.size());
  std::string text;
  for (std::size_t i = 0; i < m_ecus.size(); ++i) {
    const EcuState& state = m_ecus[i].second;
    if (m_written_from[i] && *m_written_from[i] == state) continue;
    text.clear();
    write_ecu(text, m_ecus[i].first, state);
    if (text != m_written[i]) {
      if (auto back = check_ecu_text(text, m_ecus[i].first, path); !back) {
        return make_error(Errc::internal,
                          "refusing to save a manifest that could not be read back: " + back.error().message);
      }
      m_written[i].swap(text);
    }
    m_written_from[i] = state;
  }
  m_body.clear();
  render(m_body, &m_written);
  // A step that changed nothing (status with nothing to deliver) leaves the file as it is.
  if (m_saved_body && *m_saved_body == m_body && fs::exists(path)) return success();
  m_file.clear();
  with_updated_at(m_file, m_body);
  ECUUP_TRY(write_file_atomic(path, m_file).with_context("cannot save the manifest"));
  if (!m_saved_body) m_saved_body.emplace();
  m_saved_body->swap(m_body);
  return success();
}

EcuState& Manifest::ecu(const std::string& name) {
  if (auto it = m_index.find(name); it != m_index.end()) return m_ecus[it->second].second;
  m_index.emplace(name, m_ecus.size());
  m_ecus.emplace_back(name, EcuState{});
  return m_ecus.back().second;
}

const EcuState* Manifest::find(const std::string& name) const {
  auto it = m_index.find(name);
  return it == m_index.end() ? nullptr : &m_ecus[it->second].second;
}

void Manifest::add_event(const std::string& ecu_name, const std::string& step, const std::string& message) {
  events.push_back(ManifestEvent{now_iso8601(), ecu_name, step, message});
  if (events.size() > k_manifest_max_events)
    events.erase(events.begin(), events.begin() + static_cast<long>(events.size() - k_manifest_max_events));
}

}  // namespace ecuup
