#include "repository/dir_repository.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "net/http.hpp"
#include "trust/statement.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"
#include "util/version.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {


// What a repository must never hand over (a bad version, a file:// link) is refused like any
// unverifiable target (exit 4), with the file:line:col of the entry.
Error refused(Error e) {
  e.code = Errc::verify;
  return e;
}

std::string file_url(const fs::path& p) {
  std::string out = "file://";
  for (char c : fs::absolute(p).lexically_normal().string()) {
    if (c == ' ') {
      out += "%20";
    } else if (c == '%') {
      out += "%25";
    } else {
      out += c;
    }
  }
  return out;
}

class DirRepository final : public Repository {
 public:
  DirRepository(fs::path root, std::string vehicle, HttpOptions http)
      : m_root(std::move(root)), m_vehicle(std::move(vehicle)), m_http(std::move(http)) {}

  Result<ReportResult> report(const std::vector<ReportedEcu>& ecus,
                              const std::map<std::string, std::string>& attributes) override {
    ECUUP_ASSIGN(ReportResult result, preview(ecus));
    record_inventory(ecus, attributes);
    return result;
  }

  Result<ReportResult> preview(const std::vector<ReportedEcu>& ecus) override {
    ECUUP_ASSIGN(auto releases, load_releases());
    ReportResult result;
    for (const auto& ecu : ecus) {
      auto it = releases.find(ecu.part);
      if (it == releases.end() || it->second.version == ecu.version) continue;
      const DirRelease& rel = it->second;
      Task task;
      task.ecu = ecu.name;
      task.part = ecu.part;
      task.action_id = fmt::format("dir:{}:{}", ecu.part, rel.version);
      task.target_version = rel.version;
      task.artifacts.push_back(ArtifactRef{rel.artifact.filename().string(),
                                           rel.url.empty() ? file_url(rel.artifact) : rel.url, rel.size, rel.sha256, ""});
      if (!rel.statement.empty()) {
        ECUUP_ASSIGN(task.statement, read_small(rel.statement));
        fs::path signature = rel.statement;
        signature += std::string(k_signature_suffix);
        ECUUP_ASSIGN(task.signature, read_small(signature));
      }
      result.tasks.push_back(std::move(task));
    }
    return result;
  }

  Result<void> download(const ArtifactRef& artifact, const fs::path& partial, Progress& progress) override {
    auto r = m_http.download(artifact.url, partial, progress, artifact.size);
    if (!r) return std::move(r).error();
    return success();
  }

  Result<void> send_feedback(const Feedback& fb) override {
    nlohmann::json line = {{"time", now_iso8601()},
                           {"vehicle", m_vehicle},
                           {"action", fb.action_id},
                           {"execution", feedback_execution_name(fb.execution)},
                           {"finished", feedback_finished_name(fb.finished)},
                           {"details", fb.details}};
    if (fb.progress_cnt >= 0) line["progress"] = {{"cnt", fb.progress_cnt}, {"of", fb.progress_of}};
    fs::path dir = m_root / "feedback";
    ECUUP_TRY(ensure_directory(dir));
    fs::path file = dir / (m_vehicle + ".jsonl");
    std::string existing;
    if (auto text = read_text_file(file)) existing = std::move(*text);
    return write_file_atomic(file, existing + line.dump() + "\n").with_context("record feedback");
  }

  std::string describe() const override { return "dir " + m_root.string(); }

 private:
  // A statement or a signature: small files, read whole; a missing one means an incomplete release.
  static Result<std::string> read_small(const fs::path& file) {
    std::error_code ec;
    auto size = fs::file_size(file, ec);
    if (ec) return make_error(Errc::verify, fmt::format("{}: {}", file.string(), ec.message()));
    if (size > k_statement_max_bytes)
      return make_error(Errc::verify, fmt::format("{}: {} bytes, more than a statement may have", file.string(), size));
    auto text = read_text_file(file);
    if (!text) return make_error(Errc::verify, text.error().message);
    return std::move(*text);
  }

  Result<std::map<std::string, DirRelease>> load_releases() const {
    fs::path file = m_root / "releases.yaml";
    auto text = read_text_file(file);
    if (!text) return make_error(Errc::network, "repository unavailable: " + text.error().message);
    return parse_releases(*text, file, m_root);
  }

  void record_inventory(const std::vector<ReportedEcu>& ecus, const std::map<std::string, std::string>& attributes) const {
    // Best effort, like a server's configData: a read-only repository still serves updates.
    nlohmann::json doc = {{"time", now_iso8601()}, {"vehicle", m_vehicle}, {"attributes", attributes}};
    for (const auto& e : ecus) doc["ecus"][e.part] = e.version;
    fs::path dir = m_root / "reports";
    if (ensure_directory(dir)) (void)write_file_atomic(dir / (m_vehicle + ".json"), doc.dump(2) + "\n");
  }

  fs::path m_root;
  std::string m_vehicle;
  HttpClient m_http;
};

}  // namespace

Result<std::map<std::string, DirRelease>> parse_releases(const std::string& text, const fs::path& file,
                                                          const fs::path& root_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return config_error_at(file, e.mark, e.msg);
  }
  YAML::Node rels = root && root.IsMap() ? root["releases"] : YAML::Node();
  if (!rels || !rels.IsMap()) return config_error_at(file, root, "expected 'releases:' mapping part names to releases");
  std::map<std::string, DirRelease> out;
  for (const auto& kv : rels) {
    const YAML::Node& r = kv.second;
    ECUUP_TRY(yaml_known_keys(file, r, {"version", "artifact", "url", "sha256", "size", "statement"}));
    DirRelease rel;
    ECUUP_ASSIGN(rel.version, yaml_string(file, r, "version"));
    if (auto ok = check_version_text(rel.version); !ok)
      return refused(config_error_at(file, r["version"], "refused version: " + ok.error().message));
    ECUUP_ASSIGN(std::string artifact, yaml_string(file, r, "artifact"));
    if (fs::path(artifact).is_absolute() || artifact.find("..") != std::string::npos)
      return config_error_at(file, r["artifact"], "'artifact' must be a path inside the repository");
    rel.artifact = root_dir / artifact;
    std::string none;
    ECUUP_ASSIGN(rel.url, yaml_string(file, r, "url", &none));
    if (!rel.url.empty() && !rel.url.starts_with("http://") && !rel.url.starts_with("https://"))
      return refused(config_error_at(file, r["url"], "refused 'url': only http:// and https:// (leave it out for the "
                                                    "file itself)"));
    ECUUP_ASSIGN(std::string statement, yaml_string(file, r, "statement", &none));
    if (!statement.empty()) {
      if (fs::path(statement).is_absolute() || statement.find("..") != std::string::npos ||
          !statement.ends_with(k_statement_suffix))
        return config_error_at(file, r["statement"], fmt::format("'statement' must be a file in the repository named "
                                                                 "*{}", k_statement_suffix));
      rel.statement = root_dir / statement;
    }
    ECUUP_ASSIGN(rel.sha256, yaml_string(file, r, "sha256"));
    ECUUP_ASSIGN(long long size, yaml_int(file, r, "size", -1, -1, 1LL << 50));
    std::error_code ec;
    // Without `size`, the file's; a missing file has none (0: unknown), and its fetch fails then.
    rel.size = size >= 0 ? static_cast<std::uint64_t>(size) : fs::file_size(rel.artifact, ec);
    if (ec) rel.size = 0;
    out[kv.first.Scalar()] = std::move(rel);
  }
  return out;
}

Result<std::unique_ptr<Repository>> make_dir_repository(const Config& config) {
  if (!fs::is_directory(config.server.path))
    return make_error(Errc::config, fmt::format("{}: repository directory {} does not exist", config.file.string(),
                                                config.server.path.string()));
  HttpOptions http;
  http.max_attempts = config.server.max_attempts;
  http.connect_timeout = config.server.connect_timeout;
  http.low_speed_timeout = config.server.low_speed_timeout;
  http.low_speed_limit_bps = config.server.low_speed_limit_bps;
  http.backoff_base = std::chrono::milliseconds(200);
  http.allow_file_urls = true;  // its own files; a releases.yaml `url:` is refused unless http(s)
  return std::unique_ptr<Repository>(new DirRepository(config.server.path, config.vehicle_id, http));
}

}  // namespace ecuup
